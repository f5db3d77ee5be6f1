/**
 * Buffer sharing of the training-step planner (`trainer_builder.ts`): the
 * step's temporaries (activations, gradients, partial sums) share GPU
 * buffers by lifetime.
 *
 * @module
 */
/** What buffer sharing reads of a dispatch (a `TrainDispatch` of `trainer_builder.ts`). */
export interface SharedDispatch {
  /** Storage bindings: the output, then the inputs. */
  bindings: { buf: string }[];
  /** Bindings after the first that the shader writes too. */
  writable?: number[];
}

/**
 * Lets the step's temporaries share GPU buffers by lifetime: a buffer is
 * free after the last dispatch that binds it, and a dispatch's outputs take
 * the smallest free buffers that fit (never one it also binds). Dispatches
 * in one pass see each other's writes in order, so reuse needs no copies.
 */
export function shareBuffers<D extends SharedDispatch>(
  sizes: Map<string, number>,
  steps: D[],
  shareable: (id: string) => boolean,
): { buffers: Map<string, number>; steps: D[] } {
  const lastUse = new Map<string, number>();
  steps.forEach((d, i) => d.bindings.forEach((b) => lastUse.set(b.buf, i)));
  const buffers = new Map([...sizes].filter(([id]) => !shareable(id)));
  const map = new Map<string, string>();
  const free: string[] = [];
  let next = 0;
  const out = steps.map((d, i) => {
    // Outputs: binding 0 and any other binding the shader writes.
    for (const at of [0, ...(d.writable ?? [])]) {
      const id = d.bindings[at].buf;
      if (!shareable(id) || map.has(id)) continue;
      const need = sizes.get(id)!;
      const reads = new Set(d.bindings.map((b) => map.get(b.buf)));
      let best = -1;
      free.forEach((p, j) => {
        if (reads.has(p) || buffers.get(p)! < need) return;
        if (best < 0 || buffers.get(p)! < buffers.get(free[best])!) best = j;
      });
      if (best >= 0) map.set(id, free.splice(best, 1)[0]);
      else {
        const p = `p${next++}`;
        buffers.set(p, need);
        map.set(id, p);
      }
    }
    const bindings = d.bindings.map((b) => map.has(b.buf) ? { ...b, buf: map.get(b.buf)! } : b);
    for (const b of new Set(d.bindings.map((x) => x.buf))) {
      if (lastUse.get(b) === i && map.has(b)) free.push(map.get(b)!);
    }
    return { ...d, bindings };
  });
  return { buffers, steps: out };
}
