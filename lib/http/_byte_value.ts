/**
 * An integer 0-255 from a request parameter (`POST /predict`'s `matting_*`,
 * rembg's `af`, `ab`, `ae`): one to three digits, nothing else.
 *
 * @module
 */
import { HttpError, quoteInput } from "./errors.ts";

/** `text` as a byte, or a 400 naming `name` and quoting `shown` (the value as sent). */
export function byteValue(name: string, text: string, shown = text): number {
  if (!/^\d{1,3}$/.test(text) || Number(text) > 255) {
    throw new HttpError("badRequest", `${name} ${quoteInput(shown)} is not an integer in [0, 255]`);
  }
  return Number(text);
}
