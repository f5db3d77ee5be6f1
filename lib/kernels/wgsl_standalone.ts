/**
 * Runs the WGSL of our tfjs kernels outside tfjs: writes the part of tfjs'
 * generated header that our programs use (the `result` and input bindings,
 * the `uniforms` struct with each input's `<name>Shape`, `outShape`,
 * `outShapeStrides`, `size` and the program's own fields, the builtins as
 * private variables, `getGlobalIndex()`, `getCoordsFromIndex()` for a rank-4
 * output, and the `_start` entry point) and packs the uniform values with
 * tfjs' alignment rules. The recorded training step
 * (`lib/engines/gpu/gpu_trainer.ts`) binds the same programs to its own buffers, so
 * both paths run the same arithmetic.
 *
 * @module
 */
import type { WgslCall, WgslUniform } from "./webgpu.ts";
import { HALF_SUFFIX, narrowStores, widenReads } from "./_wgsl_half.ts";

/** A {@linkcode WgslCall} made standalone for fixed input shapes. */
export interface StandaloneProgram {
  /** Full WGSL source (entry point `_start`). */
  code: string;
  /** Packed uniform bytes (binding `inputs + 1`). */
  uniform: ArrayBuffer;
  /** Workgroup counts. */
  workgroups: [number, number, number];
  /** Storage bindings after the output (the inputs). */
  inputs: number;
}

function coordsType(rank: number): string {
  return rank <= 1 ? "i32" : `vec${rank}<i32>`;
}

function lowerFirst(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

function strides(shape: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = shape.length - 2, s = 1; i >= 0; i--) out.unshift(s *= shape[i + 1]);
  return out;
}

/** tfjs' uniform packing: 4-byte scalars, 8-byte vec2, 16-byte vec3/vec4 alignment. */
export function packUniforms(fields: WgslUniform[]): ArrayBuffer {
  let offset = 0, maxAlign = 4;
  const offsets = fields.map((f) => {
    const len = Math.max(1, f.data.length);
    const align = len === 1 ? 4 : len === 2 ? 8 : 16;
    maxAlign = Math.max(maxAlign, align);
    offset = Math.ceil(offset / align) * align;
    const at = offset;
    offset += 4 * len;
    return at;
  });
  const size = Math.ceil(Math.ceil(offset / maxAlign) * maxAlign / 16) * 16;
  const raw = new ArrayBuffer(size);
  fields.forEach((f, i) => {
    const data = f.data.length ? f.data : [1];
    if (f.type === "int32") new Int32Array(raw, offsets[i], data.length).set(data);
    else new Float32Array(raw, offsets[i], data.length).set(data);
  });
  return raw;
}

const COORDS4 = `
fn getCoordsFromIndex(index : i32) -> vec4<i32> {
  var i = index;
  let d0 = i / uniforms.outShapeStrides.x;
  i = i - d0 * uniforms.outShapeStrides.x;
  let d1 = i / uniforms.outShapeStrides.y;
  i = i - d1 * uniforms.outShapeStrides.y;
  let d2 = i / uniforms.outShapeStrides.z;
  return vec4<i32>(d0, d1, d2, i - d2 * uniforms.outShapeStrides.z);
}`;

/** Workgroups for `groups` flat workgroups: 2-D past 32768 (getGlobalIndex spans both). */
function flat(groups: number): [number, number, number] {
  const x = Math.max(1, Math.min(groups, 32768));
  return [x, Math.ceil(groups / x), 1];
}

/** Storage types of a standalone program's maps (f16 needs the device's `shader-f16`). */
export interface StandaloneTypes {
  /**
   * Inputs stored in f16, by input index: bound as f16 arrays and widened
   * to f32 where the program indexes them, so its arithmetic is unchanged.
   * @default []
   */
  halfInputs?: readonly boolean[];
  /** The output stored in f16: each store rounded once, clamped to f16's finite range. @default false */
  halfOutput?: boolean;
}

/**
 * The standalone program of `call` for inputs shaped `inputShapes` (in
 * `call.spec.inputs` order), its maps stored as `types` says.
 */
export function standalone(
  call: WgslCall,
  inputShapes: readonly (readonly number[])[],
  types: StandaloneTypes = {},
): StandaloneProgram {
  const { spec } = call;
  const halfIn = spec.inputs.map((_, i) => types.halfInputs?.[i] ?? false);
  const halfOut = types.halfOutput ?? false;
  if (inputShapes.length !== spec.inputs.length) {
    throw new RangeError(
      `Cannot make ${spec.key} standalone: current value is ${inputShapes.length} input shapes for ${spec.inputs.length} inputs`,
    );
  }
  const isFlat = spec.dispatch === undefined;
  const out = spec.outputShape;
  const size = out.reduce((a, b) => a * b, 1);
  const outComp = spec.components?.output ?? 1;
  const elem = (c: number, half = false) => {
    const t = half ? "f16" : "f32";
    return c === 1 ? t : `vec${c}<${t}>`;
  };
  const inComp = (i: number) => spec.components?.inputs[i] ?? outComp;
  const fields = [
    ...spec.inputs.map((name, i) =>
      `${lowerFirst(name)}Shape : ${coordsType(inputShapes[i].length)},`
    ),
    `outShape : ${coordsType(out.length)},`,
    `outShapeStrides : ${coordsType(out.length - 1)},`,
    isFlat ? "size : i32," : "",
    spec.uniforms ?? "",
  ].join(" ");
  const wg = spec.workgroupSize;
  const volume = wg[0] * wg[1] * wg[2];
  const bindings = spec.inputs.map((name, i) =>
    `@group(0) @binding(${i + 1}) var<storage, read> ${name}${
      halfIn[i] ? HALF_SUFFIX : ""
    } : array<${elem(inComp(i), halfIn[i])}>;`
  ).join("\n");
  let body = spec.code.replace(/^\s*enable f16;/, "");
  spec.inputs.forEach((name, i) => {
    if (halfIn[i]) body = widenReads(body, name, inComp(i));
  });
  if (halfOut) body = narrowStores(body, "result", outComp);
  // An `enable` directive must open the module.
  const half = halfOut || halfIn.some((h) => h) || /^\s*enable f16;/.test(spec.code);
  const enable = half ? "enable f16;\n" : "";
  const code = `${enable}struct Uniforms { ${fields} };
@group(0) @binding(0) var<storage, read_write> result${halfOut ? HALF_SUFFIX : ""} : array<${
    elem(outComp, halfOut)
  }>;
${bindings}
@group(0) @binding(${spec.inputs.length + 1}) var<uniform> uniforms : Uniforms;
var<private> localId : vec3<u32>;
var<private> localIndex : u32;
var<private> globalId : vec3<u32>;
var<private> numWorkgroups : vec3<u32>;
var<private> workgroupId : vec3<u32>;
fn getGlobalIndex() -> i32 {
  return i32((workgroupId.z * numWorkgroups.x * numWorkgroups.y +
    workgroupId.y * numWorkgroups.x + workgroupId.x) * ${volume}u + localIndex);
}${out.length === 4 ? COORDS4 : ""}
${body}
@compute @workgroup_size(${wg[0]}, ${wg[1]}, ${wg[2]})
fn _start(@builtin(local_invocation_id) LocalId : vec3<u32>,
          @builtin(global_invocation_id) GlobalId : vec3<u32>,
          @builtin(local_invocation_index) LocalIndex : u32,
          @builtin(workgroup_id) WorkgroupId : vec3<u32>,
          @builtin(num_workgroups) NumWorkgroups : vec3<u32>) {
  localId = LocalId;
  localIndex = LocalIndex;
  globalId = GlobalId;
  numWorkgroups = NumWorkgroups;
  workgroupId = WorkgroupId;
  ${isFlat ? "main(getGlobalIndex());" : "main();"}
}`;
  const ints = (data: readonly number[]): WgslUniform => ({ type: "int32", data: [...data] });
  const values: WgslUniform[] = [
    ...inputShapes.map(ints),
    ints(out),
    ints(strides(out)),
    ...(isFlat ? [ints([size / outComp])] : []),
    ...call.uniforms,
  ];
  const workgroups = isFlat
    ? flat(Math.ceil((spec.invocations ?? size) / volume))
    : [...spec.dispatch!] as [number, number, number];
  return { code, uniform: packUniforms(values), workgroups, inputs: spec.inputs.length };
}
