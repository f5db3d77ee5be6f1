/**
 * tests/testdata/alpha_matting.json: rembg's alpha_matting_cutout step by
 * step (scipy's erosion, pymatting's estimate_alpha_cf and
 * estimate_foreground_ml, the uint8 cut-out) on photo crops with soft
 * elliptic masks; see alpha_matting.py there. Decoded for the tests.
 */

/** One case, its arrays decoded. */
export interface MattingCase {
  width: number;
  height: number;
  /** The photo, RGB. */
  image: { width: number; height: number; channels: 3; data: Uint8Array };
  mask: Uint8Array;
  /** rembg's `-af -ab -ae`, as `MattingOptions`. */
  options: { foregroundThreshold: number; backgroundThreshold: number; erodeSize: number };
  trimap: Uint8Array;
  /** pymatting's alpha and foreground (float32), the uint8 RGBA cut-out; absent on fallback. */
  alpha?: Float32Array;
  foreground?: Float32Array;
  cutout?: Uint8Array;
  /** pymatting's ValueError, where rembg falls back. */
  fallback?: string;
}

const bytes = (s: string) => Uint8Array.from(atob(s), (ch) => ch.charCodeAt(0));
const floats = (s: string) => new Float32Array(bytes(s).buffer);

const raw = JSON.parse(
  await Deno.readTextFile(new URL("../testdata/alpha_matting.json", import.meta.url)),
) as { cases: Record<string, string | number | undefined>[] };

/** The fixture's cases. */
export const MATTING_CASES: MattingCase[] = raw.cases.map((c) => {
  const width = Number(c.width), height = Number(c.height);
  return {
    width,
    height,
    image: { width, height, channels: 3, data: bytes(String(c.image)) },
    mask: bytes(String(c.mask)),
    options: {
      foregroundThreshold: Number(c.foreground_threshold),
      backgroundThreshold: Number(c.background_threshold),
      erodeSize: Number(c.erode_size),
    },
    trimap: bytes(String(c.trimap)),
    ...(c.alpha ? { alpha: floats(String(c.alpha)) } : {}),
    ...(c.foreground ? { foreground: floats(String(c.foreground)) } : {}),
    ...(c.cutout ? { cutout: bytes(String(c.cutout)) } : {}),
    ...(c.fallback ? { fallback: String(c.fallback) } : {}),
  };
});
