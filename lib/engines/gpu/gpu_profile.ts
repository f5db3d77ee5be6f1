/**
 * Per-dispatch timing shared by the recorded engines (`GpuEngine.profile`,
 * `GpuTrainer.profile`): with timestamp queries, each dispatch in its own
 * pass stamped on the GPU; without, each submitted and awaited on its own.
 *
 * @module
 */

/** One dispatch to time. */
export interface ProfileItem {
  /** What it computes (rows are grouped by it). */
  label: string;
  /** Workgroup counts (x, y[, z]). */
  workgroups: readonly number[];
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
 * Runs each dispatch of `all` once, in order, and returns its milliseconds:
 * with timestamp queries (when the device has the feature), each dispatch in
 * its own pass stamped on the GPU; without, each submitted and awaited on its
 * own (coarse: includes a submission's overhead).
 */
export async function timeEach(device: GPUDevice, all: readonly ProfileItem[]): Promise<number[]> {
  const run = (cp: GPUComputePassEncoder, { workgroups: w, pipeline, group }: ProfileItem) => {
    cp.setPipeline(pipeline);
    cp.setBindGroup(0, group);
    cp.dispatchWorkgroups(w[0], w[1] ?? 1, w[2] ?? 1);
    cp.end();
  };
  if (!device.features.has("timestamp-query")) {
    const out: number[] = [];
    for (const x of all) {
      const t0 = performance.now();
      const encoder = device.createCommandEncoder();
      run(encoder.beginComputePass(), x);
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
      out.push(performance.now() - t0);
    }
    return out;
  }
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
      const timestampWrites = {
        querySet,
        beginningOfPassWriteIndex: 2 * i,
        endOfPassWriteIndex: 2 * i + 1,
      };
      run(encoder.beginComputePass({ timestampWrites }), x);
    });
    encoder.resolveQuerySet(querySet, 0, 2 * all.length, resolve, 0);
    encoder.copyBufferToBuffer(resolve, 0, staging, 0, bytes);
    device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const ns = new BigInt64Array(staging.getMappedRange().slice(0));
    return all.map((_, i) => Number(ns[2 * i + 1] - ns[2 * i]) / 1e6);
  } finally {
    querySet.destroy();
    resolve.destroy();
    staging.destroy();
  }
}

/** Milliseconds summed by label (`labels[i]` took `ms[i]`), slowest first. */
export function byLabel(labels: readonly string[], ms: readonly number[]): ProfileRow[] {
  const out = new Map<string, ProfileRow>();
  labels.forEach((label, i) => {
    const row = out.get(label) ?? { label, count: 0, ms: 0 };
    row.count++;
    row.ms += ms[i];
    out.set(label, row);
  });
  return [...out.values()].sort((a, b) => b.ms - a.ms);
}

/** {@linkcode timeEach}, summed by label, slowest first. */
export async function timeDispatches(
  device: GPUDevice,
  all: readonly ProfileItem[],
): Promise<ProfileRow[]> {
  return byLabel(all.map((x) => x.label), await timeEach(device, all));
}
