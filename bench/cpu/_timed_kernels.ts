/**
 * A CpuTrainer kernel set whose every kernel call (all but `alloc` and
 * `dispose`) adds its wall time under a key, for the CPU training profiles.
 *
 * @module
 */
import type { ConvShape, TrainKernels } from "../../lib/engines/cpu/train_kernels.ts";

/** How a call is keyed: the kernel's name, and the conv's shape for the conv kernels. */
export type KernelKey = (name: string, shape: ConvShape | null) => string;

/** The conv kernels' shape in a key: `64+64->64 48x48 d1`. */
export function shapeLabel(s: ConvShape): string {
  return `${s.ca}+${s.cb}->${s.co} ${s.h}x${s.w} d${s.dil}`;
}

/** `inner` with every kernel timed into `times` under `key(name, conv shape or null)`. */
export function timedKernels(
  inner: TrainKernels,
  key: KernelKey,
): { kernels: TrainKernels; times: Map<string, number> } {
  const times = new Map<string, number>();
  const kernels: TrainKernels = { ...inner };
  for (const name of Object.keys(inner) as (keyof TrainKernels)[]) {
    const f = inner[name];
    if (typeof f !== "function" || name === "alloc" || name === "dispose") continue;
    // deno-lint-ignore no-explicit-any
    (kernels as any)[name] = (...a: any[]) => {
      const t0 = performance.now();
      // deno-lint-ignore no-explicit-any
      (f as any).apply(inner, a);
      const k = key(name, name.startsWith("conv") ? a[a.length - 1] as ConvShape : null);
      times.set(k, (times.get(k) ?? 0) + performance.now() - t0);
    };
  }
  return { kernels, times };
}
