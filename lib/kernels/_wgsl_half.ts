/**
 * Rewrites a tfjs-form program (`wgsl_standalone.ts`) for f16 storage: the
 * reads of an f16 input widened to f32 where they are indexed, the stores
 * of an f16 output rounded once (clamped to f16's finite range), so the
 * program's arithmetic stays f32 whatever its maps are stored in.
 *
 * @module
 */
import { halfStore, halfStore4 } from "./conv/conv_wgsl.ts";

/** The suffix of an f16 binding's name (`x` → `x_h`). */
export const HALF_SUFFIX = "_h";

/** Index of the `]` closing the `[` at `open`. */
function closing(code: string, open: number): number {
  let depth = 0;
  for (let i = open; i < code.length; i++) {
    if (code[i] === "[") depth++;
    else if (code[i] === "]" && --depth === 0) return i;
  }
  throw new RangeError(`Cannot rewrite WGSL: current code has an unclosed [ at ${open}`);
}

/** Every `name[` not part of a longer identifier or a member access. */
function uses(name: string): RegExp {
  return new RegExp(`(?<![\\w.])${name}\\[`, "g");
}

/**
 * `code` with each read `name[i]` of an f16 array made `f32(name_h[i])`
 * (`vec4<f32>(…)` for vec4 elements, `comps` 4); reads inside the index too.
 */
export function widenReads(code: string, name: string, comps: number): string {
  const t = comps === 1 ? "f32" : `vec${comps}<f32>`;
  let out = "", at = 0;
  for (const m of code.matchAll(uses(name))) {
    if (m.index < at) continue;
    const open = m.index + name.length, end = closing(code, open);
    const index = widenReads(code.slice(open + 1, end), name, comps);
    out += `${code.slice(at, m.index)}${t}(${name}${HALF_SUFFIX}[${index}])`;
    at = end + 1;
  }
  return out + code.slice(at);
}

/**
 * `code` with each store `name[i] = e;` made `name_h[i] = f16(clamp(e))`
 * (`halfStore`); throws where `name` is read or updated in place.
 */
export function narrowStores(code: string, name: string, comps: number): string {
  const round = comps === 1 ? halfStore : halfStore4;
  let out = "", at = 0;
  for (const m of code.matchAll(uses(name))) {
    const open = m.index + name.length, end = closing(code, open);
    const eq = /^\s*=(?!=)/.exec(code.slice(end + 1));
    if (!eq) {
      throw new RangeError(
        `Cannot store ${name} in f16: current code uses it other than by "${name}[i] = …;" at ${m.index}`,
      );
    }
    const from = end + 1 + eq[0].length;
    let depth = 0, stop = from;
    for (; stop < code.length; stop++) {
      const ch = code[stop];
      if (ch === "(" || ch === "[") depth++;
      else if (ch === ")" || ch === "]") depth--;
      else if (ch === ";" && depth === 0) break;
    }
    const value = code.slice(from, stop).trim();
    out += `${code.slice(at, open)}${HALF_SUFFIX}${code.slice(open, end + 1)} = ${round(value)}`;
    at = stop;
  }
  return out + code.slice(at);
}
