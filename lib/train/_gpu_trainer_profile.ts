/**
 * Dispatch timing of the recorded training step (`gpu_trainer.ts`,
 * `GpuTrainer.profile`): with timestamp queries, each dispatch in its own
 * pass stamped on the GPU; without, each submitted and awaited on its own.
 *
 * @module
 */
import type { TrainDispatch } from "./_trainer_plan.ts";

/** One dispatch to time: its plan entry, pipeline and bind group. */
export interface ProfileItem {
  /** The planned dispatch (its label and workgroup counts). */
  dispatch: TrainDispatch;
  /** Its compiled pipeline. */
  pipeline: GPUComputePipeline;
  /** Its bind group. */
  group: GPUBindGroup;
}

/** A label's dispatches: how many and their milliseconds in all. */
export interface ProfileRow {
  /** Dispatch label. */
  label: string;
  /** Dispatches with this label. */
  count: number;
  /** Their milliseconds in all. */
  ms: number;
}

/**
 * Runs each dispatch of `all` once, in order, and times it: with timestamp
 * queries, each dispatch in its own pass stamped on the GPU; without, each
 * submitted and awaited on its own (coarse: includes a submission's
 * overhead). Rows by label, slowest first.
 */
export async function timeDispatches(
  device: GPUDevice,
  all: readonly ProfileItem[],
): Promise<ProfileRow[]> {
  const out = new Map<string, ProfileRow>();
  const add = (label: string, ms: number) => {
    const row = out.get(label) ?? { label, count: 0, ms: 0 };
    row.count++;
    row.ms += ms;
    out.set(label, row);
  };
  const run = (cp: GPUComputePassEncoder, { dispatch: d, pipeline, group }: ProfileItem) => {
    cp.setPipeline(pipeline);
    cp.setBindGroup(0, group);
    cp.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
    cp.end();
  };
  if (device.features.has("timestamp-query")) {
    // One pass per dispatch, its start and end stamped on the GPU.
    const querySet = device.createQuerySet({ type: "timestamp", count: 2 * all.length });
    const bytes = 16 * all.length;
    const resolve = device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    const staging = device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    try {
      const encoder = device.createCommandEncoder();
      all.forEach((x, i) => {
        run(
          encoder.beginComputePass({
            timestampWrites: {
              querySet,
              beginningOfPassWriteIndex: 2 * i,
              endOfPassWriteIndex: 2 * i + 1,
            },
          }),
          x,
        );
      });
      encoder.resolveQuerySet(querySet, 0, 2 * all.length, resolve, 0);
      encoder.copyBufferToBuffer(resolve, 0, staging, 0, bytes);
      device.queue.submit([encoder.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      const ns = new BigInt64Array(staging.getMappedRange().slice(0));
      all.forEach(({ dispatch: d }, i) => add(d.label, Number(ns[2 * i + 1] - ns[2 * i]) / 1e6));
    } finally {
      querySet.destroy();
      resolve.destroy();
      staging.destroy();
    }
  } else {
    for (const x of all) {
      const t0 = performance.now();
      const encoder = device.createCommandEncoder();
      run(encoder.beginComputePass(), x);
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
      add(x.dispatch.label, performance.now() - t0);
    }
  }
  return [...out.values()].sort((a, b) => b.ms - a.ms);
}
