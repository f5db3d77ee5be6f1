/**
 * Colours as people type them (`#ff8000`, `#f80`, `255,128,0`, `white`):
 * the cut-out background of `predict --bg-color` and `POST /predict?bg=`.
 *
 * @module
 */

/** An RGB colour, 0-255 per channel. */
export type RgbColor = readonly [number, number, number];

const NAMED: Record<string, RgbColor> = {
  white: [255, 255, 255],
  black: [0, 0, 0],
  red: [255, 0, 0],
  green: [0, 255, 0],
  blue: [0, 0, 255],
  gray: [128, 128, 128],
  grey: [128, 128, 128],
};

/**
 * Parses a colour: `#rgb`, `#rrggbb` (the `#` optional), `r,g,b` or a name
 * (white, black, red, green, blue, gray).
 *
 * @throws {TypeError} for anything else.
 * @example
 * ```ts
 * import { parseColor } from "./parse_color.ts";
 * parseColor("#ff8000"); // [255, 128, 0]
 * ```
 */
export function parseColor(text: string): RgbColor {
  const s = text.trim().toLowerCase();
  if (NAMED[s]) return NAMED[s];
  const hex = s.replace(/^#/, "");
  if (/^[0-9a-f]{6}$/.test(hex)) {
    return [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16)) as unknown as RgbColor;
  }
  if (/^[0-9a-f]{3}$/.test(hex)) {
    return [0, 1, 2].map((i) => parseInt(hex[i] + hex[i], 16)) as unknown as RgbColor;
  }
  const parts = s.split(",").map((p) => p.trim());
  if (parts.length === 3 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) {
    return parts.map(Number) as unknown as RgbColor;
  }
  throw new TypeError(
    `Cannot parse colour: current value is "${text}", expected #rrggbb, r,g,b or a name`,
  );
}
