import { assertEquals, assertThrows } from "../assert.ts";
import { HttpError } from "../../lib/http/errors.ts";
import { parsePredictQuery } from "../../lib/http/predict_query.ts";

const parse = (q: string) => parsePredictQuery(new URLSearchParams(q));

Deno.test("parsePredictQuery() reads plain decimals in [0, 1] as thresholds", () => {
  for (
    const [t, v] of [["0", 0], ["1", 1], ["0.5", 0.5], [".5", 0.5], ["1.000", 1], [
      "0.125",
      0.125,
    ]] as const
  ) {
    assertEquals(parse(`threshold=${t}`).threshold, v, t);
  }
  assertEquals(parse("").threshold, 0.5);
});

Deno.test("parsePredictQuery() refuses thresholds with spaces, hex, exponents, signs, empty or over 1", () => {
  for (
    const t of [
      "%20",
      "0x1",
      "1e0",
      "+0.5",
      "-0",
      "",
      " 0.5",
      "0.5 ",
      "1.5",
      "1.01",
      ".",
      "NaN",
      "Infinity",
      "0,5",
    ]
  ) {
    assertThrows(() => parse(`threshold=${t}`), HttpError, "threshold");
  }
});

Deno.test("parsePredictQuery() reads bg colours and refuses others without echoing more than 40 characters", () => {
  assertEquals(parse("format=cutout&bg=%23ff8000").bgColor, [255, 128, 0]);
  assertEquals(parse("bg=white").bgColor, [255, 255, 255]);
  assertEquals(parse("bg=1,2,3").bgColor, [1, 2, 3]);
  for (const bg of ["", "nope", "x".repeat(10_000), "#12345"]) {
    const e = assertThrows(() => parse(`bg=${bg}`), HttpError) as HttpError;
    assertEquals(e.status, 400);
    assertEquals(e.message.includes("x".repeat(41)), false);
  }
});

Deno.test("parsePredictQuery() refuses unknown formats", () => {
  assertEquals(parse("format=json").format, "json");
  assertThrows(() => parse("format=gif"), HttpError);
});

Deno.test("parsePredictQuery() reads alpha and postprocess, and refuses other values", () => {
  const q = parse("format=cutout&alpha=hard&postprocess=1");
  assertEquals([q.alpha, q.postProcess], ["hard", true]);
  assertEquals([parse("").alpha, parse("").postProcess], ["soft", false]);
  assertThrows(() => parse("alpha=medium"), HttpError, "alpha");
  assertEquals(parse("alpha=matting").alpha, "matting");
  assertThrows(() => parse("postprocess=yes"), HttpError, "postprocess");
});

Deno.test("parsePredictQuery() refuses a parameter given twice, even when the first value is good", () => {
  for (const q of ["threshold=0.5&threshold=2", "format=mask&format=mask", "bg=white&bg=red"]) {
    assertThrows(() => parse(q), HttpError, "times: give it once");
  }
  assertEquals(parse("threshold=0.5&cachebust=1&cachebust=2").threshold, 0.5); // others ignored
});

Deno.test("parsePredictQuery() reads the matting trimap's integers and refuses others", () => {
  assertEquals(parse("").matting, {
    foregroundThreshold: 240,
    backgroundThreshold: 10,
    erodeSize: 10,
    maxUnsurePixels: 262_144,
    maxPixels: 2048 * 2048,
  });
  assertEquals(parse("alpha=matting&matting_fg=200&matting_bg=0&matting_erode=0").matting, {
    foregroundThreshold: 200,
    backgroundThreshold: 0,
    erodeSize: 0,
    maxUnsurePixels: 262_144,
    maxPixels: 2048 * 2048,
  });
  for (
    const bad of [
      "matting_fg=256",
      "matting_bg=-1",
      "matting_erode=1.5",
      "matting_fg=",
      "matting_bg=1e2",
    ]
  ) {
    assertThrows(() => parse(bad), HttpError, bad.split("=")[0]);
  }
  assertThrows(() => parse("matting_fg=1&matting_fg=2"), HttpError, "2 times");
});
