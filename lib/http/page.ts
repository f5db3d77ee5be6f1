/**
 * The upload page served at `GET /`: pick an image, see the cut-out (or mask)
 * next to the original, through `fetch` to `/predict`. No external assets.
 *
 * @module
 */

/** Content-Security-Policy of the page (inline script and style, blob images, same-origin fetch). */
export const PAGE_CSP: string =
  "default-src 'none'; img-src 'self' blob: data:; style-src 'unsafe-inline'; " +
  "script-src 'unsafe-inline'; connect-src 'self'; form-action 'none'; base-uri 'none'";

const SCRIPT = `
const $ = (id) => document.getElementById(id);
const file = $("file"), original = $("original"), result = $("result"), status = $("status");
async function run() {
  const f = file.files[0];
  if (!f) return;
  result.dataset.state = "pending";
  status.textContent = "working…";
  original.src = URL.createObjectURL(f);
  const q = new URLSearchParams({ format: $("format").value, threshold: $("threshold").value });
  const t0 = performance.now();
  try {
    const res = await fetch("predict?" + q, {
      method: "POST",
      headers: { "content-type": f.type || "application/octet-stream" },
      body: f,
    });
    if (!res.ok) {
      const j = await res.json().catch(() => ({ error: res.statusText }));
      throw new Error(res.status + ": " + j.error);
    }
    const blob = await res.blob();
    result.onload = () => {
      result.dataset.state = "done";
      status.textContent = result.naturalWidth + "x" + result.naturalHeight + " in " +
        Math.round(performance.now() - t0) + " ms";
    };
    result.src = URL.createObjectURL(blob);
  } catch (e) {
    result.dataset.state = "error";
    status.textContent = String(e.message || e);
  }
}
file.addEventListener("change", run);
$("format").addEventListener("change", run);
$("threshold").addEventListener("change", run);
`;

/** Options of {@linkcode uploadPage}. */
export interface UploadPageOptions {
  /** Page title. @default "U2-Net background removal" */
  title?: string;
}

/**
 * The HTML of the upload page.
 *
 * @example
 * ```ts
 * import { uploadPage } from "./page.ts";
 * uploadPage().includes('id="file"'); // true
 * ```
 */
export function uploadPage(options: UploadPageOptions = {}): string {
  const title = (options.title ?? "U2-Net background removal").replace(/[<>&"]/g, "");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>
  body { font: 15px system-ui, sans-serif; margin: 2rem; color: #222; }
  .row { display: flex; gap: 1rem; flex-wrap: wrap; }
  figure { margin: 0; }
  img { max-width: 45vw; max-height: 70vh; border: 1px solid #ccc; min-width: 64px; min-height: 64px;
    background: repeating-conic-gradient(#ddd 0% 25%, #fff 0% 50%) 50% / 16px 16px; }
  label { margin-right: 1rem; }
</style>
</head>
<body>
<h1>${title}</h1>
<p>
  <label>Image (PNG or JPEG) <input type="file" id="file" accept="image/png,image/jpeg"></label>
  <label>Output <select id="format">
    <option value="cutout" selected>cut-out</option>
    <option value="mask">mask</option>
    <option value="soft">soft mask</option>
  </select></label>
  <label>Threshold <input type="number" id="threshold" min="0" max="1" step="0.05" value="0.5"></label>
</p>
<p id="status" role="status">Choose an image.</p>
<div class="row">
  <figure><img id="original" alt="original"><figcaption>original</figcaption></figure>
  <figure><img id="result" alt="result" data-state="idle"><figcaption>result</figcaption></figure>
</div>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
