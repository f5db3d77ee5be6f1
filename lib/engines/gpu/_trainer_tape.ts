/**
 * The tape of the training-step planner (`trainer_plan.ts`): the planned
 * NHWC maps and, per forward op, what its backward pass
 * (`_trainer_backward.ts`) needs.
 *
 * @module
 */
import type { ConvLayerSpec } from "../../net/rsu.ts";
import type { Seg } from "./trainer_builder.ts";

/** A planned NHWC map (an activation or a gradient). */
export interface MapRef {
  id: string;
  shape: [number, number, number, number];
}

/** What the backward pass of one forward op needs. */
export type TapeOp =
  | {
    op: "layer";
    spec: ConvLayerSpec;
    /** The conv's input, or its first part. */
    x: MapRef;
    /** The second part of a concat input (decoder layers), read in place. */
    x2?: MapRef;
    y: MapRef;
    z: MapRef;
    stats: Seg;
    first: boolean;
  }
  | { op: "pool"; x: MapRef; out: MapRef }
  | { op: "resize"; x: MapRef; out: MapRef }
  | { op: "add"; a: MapRef; b: MapRef; out: MapRef }
  | { op: "side"; key: string; x: MapRef; out: MapRef };

/** Values of a planned map. */
export const mapSize = (m: MapRef): number => m.shape.reduce((a, b) => a * b, 1);

/** What the planner's 3x3 engine conv takes besides its input. */
export interface PlanConvOptions {
  /** The filter's segment (HWIO). */
  wt: Seg;
  /** The bias segment (a zero segment for bias-free convs). */
  bias: Seg;
  /** Output channels. */
  co: number;
  /** Dilation (= padding). */
  dil: number;
  /** `wt` is the forward filter of the conv whose input gradient this is. @default false */
  flipped?: boolean;
  /** A second input read as channels after the first (a concat, in place). */
  x2?: MapRef;
}

/** The planner's 3x3 engine conv (stride 1, "same"): `conv(x ‖ x2, wt) + bias`. */
export type PlanConv = (x: MapRef, options: PlanConvOptions) => MapRef;
