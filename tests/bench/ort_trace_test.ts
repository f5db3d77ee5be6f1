import { assertEquals } from "../assert.ts";
import { groupTrace, type TraceEvent } from "../../bench/cpu/ort_trace.ts";

/** A node event of `op` at `ts` lasting `dur` µs, with a [1,c,h,w] input and output. */
function node(op: string, ts: number, dur: number, c = 16): TraceEvent {
  const shape = [{ float: [1, c, 8, 8] }];
  return {
    cat: "Node",
    name: `${op}_${ts}_kernel_time`,
    ts,
    dur,
    args: { op_name: op, input_type_shape: shape, output_type_shape: shape },
  };
}

Deno.test("groupTrace() averages the timed runs' node times by op and by op + shapes", () => {
  const events: TraceEvent[] = [
    { name: "model_run", ts: 0, dur: 9_000 },
    node("Conv", 1, 8_000), // a warm-up run: left out
    { name: "model_run", ts: 100, dur: 4_000 },
    node("Conv", 101, 1_000),
    node("Conv", 102, 2_000, 32),
    node("Add", 103, 500),
    { name: "model_run", ts: 200, dur: 6_000 },
    node("Conv", 201, 3_000),
    node("Conv", 202, 2_000, 32),
    node("Add", 203, 500),
    { cat: "Session", name: "session_initialization", ts: 300, dur: 1 },
  ];
  const g = groupTrace(events, 2);
  assertEquals(g.runMs, [4, 6]);
  assertEquals(g.ops, [["Conv", 2, 4], ["Add", 1, 0.5]]);
  assertEquals(g.shapes, [
    ["Conv 1x16x8x8 > 1x16x8x8", 1, 2],
    ["Conv 1x32x8x8 > 1x32x8x8", 1, 2],
    ["Add 1x16x8x8 > 1x16x8x8", 1, 0.5],
  ]);
});
