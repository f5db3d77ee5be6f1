/**
 * The upload page served at `GET /` (script at `GET /page.js`, style at
 * `GET /page.css`, so the policy allows no inline code): drop or pick an
 * image, choose the output (cut-out, mask, soft mask), threshold and
 * background colour, see the result next to the original and download it.
 * The model's name (from `/healthz`) is shown, with a warning when the demo
 * weights are loaded. No external assets; images appear only once they have
 * a source (no broken-image icons).
 *
 * @module
 */

/** Content-Security-Policy of the page: same-origin script, style and fetch; blob images. */
export const PAGE_CSP: string =
  "default-src 'none'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; " +
  "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

/** The page's script (`GET /page.js`). */
export const PAGE_SCRIPT = `"use strict";
const $ = (id) => document.getElementById(id);
const original = $("original"), result = $("result"), status = $("status"), download = $("download");
let current = null, urls = [];
function show(img, url) {
  img.src = url;
  img.hidden = false;
}
async function run() {
  const f = current;
  if (!f) return;
  for (const u of urls) URL.revokeObjectURL(u);
  const src = URL.createObjectURL(f);
  urls = [src];
  result.dataset.state = "pending";
  download.hidden = true;
  status.textContent = "working…";
  show(original, src);
  const format = $("format").value;
  const q = new URLSearchParams({ format });
  if ($("threshold").value !== "") q.set("threshold", $("threshold").value); // cleared: the default
  if (format === "cutout" && $("usebg").checked) q.set("bg", $("bg").value.replace("#", ""));
  if (format === "cutout" && $("matting").checked) q.set("alpha", "matting");
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
    const url = URL.createObjectURL(await res.blob());
    urls.push(url);
    result.onload = () => {
      result.dataset.state = "done";
      status.textContent = result.naturalWidth + "x" + result.naturalHeight + " in " +
        Math.round(performance.now() - t0) + " ms";
    };
    show(result, url);
    download.href = url;
    download.download = (f.name || "image").replace(/\\.[^.]*$/, "") + "-" + format + ".png";
    download.hidden = false;
  } catch (e) {
    result.dataset.state = "error";
    status.textContent = String(e.message || e);
  }
}
function take(files) {
  if (!files || !files.length) return;
  current = files[0];
  run();
}
$("file").addEventListener("change", () => take($("file").files));
for (const id of ["format", "threshold", "usebg", "bg", "matting"]) {
  $(id).addEventListener("change", run);
}
const drop = $("drop");
drop.addEventListener("dragover", (e) => {
  e.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  take(e.dataTransfer.files);
});
fetch("healthz").then((r) => r.json()).then((h) => {
  const m = h.model || {};
  $("model").textContent = "Model: " + (m.name || "?") + " (" + (m.arch || "?") + ", " +
    (h.backend || "?") + ", " + (h.mode || "?") + ")";
  $("demo").hidden = !m.demo;
}).catch(() => {
  $("model").textContent = "Model: unknown (/healthz did not answer)";
});
`;

/** The page's style (`GET /page.css`). */
export const PAGE_STYLE = `body { font: 15px system-ui, sans-serif; margin: 2rem; color: #222; }
.row { display: flex; gap: 1rem; flex-wrap: wrap; }
figure { margin: 0; }
img { max-width: 45vw; max-height: 70vh; border: 1px solid #ccc;
  background: repeating-conic-gradient(#ddd 0% 25%, #fff 0% 50%) 50% / 16px 16px; }
label { margin-right: 1rem; }
#drop { display: block; border: 2px dashed #999; border-radius: 8px; padding: 1.5rem;
  margin: 1rem 0; text-align: center; cursor: pointer; }
#drop.over { border-color: #06c; background: #eef5ff; }
#demo { background: #fff3cd; border: 1px solid #e0b000; padding: .5rem 1rem; }
#download { display: inline-block; margin-top: .5rem; }
[hidden] { display: none !important; }
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
<link rel="stylesheet" href="page.css">
</head>
<body>
<h1>${title}</h1>
<p id="model">Model: …</p>
<p id="demo" role="alert" hidden><strong>Demo weights:</strong> this model was trained for a few
minutes on synthetic shapes; expect poor cut-outs of real photos. Start the server with
<code>--weights u2netp</code> (or another trained model) for real use.</p>
<label id="drop" for="file">Drop a PNG, JPEG or WebP here, or click to choose one
  <input type="file" id="file" accept="image/png,image/jpeg,image/webp"></label>
<p>
  <label>Output <select id="format">
    <option value="cutout" selected>cut-out</option>
    <option value="mask">mask</option>
    <option value="soft">soft mask</option>
  </select></label>
  <label>Threshold <input type="number" id="threshold" min="0" max="1" step="0.05" value="0.5"></label>
  <label><input type="checkbox" id="usebg"> Background colour</label>
  <input type="color" id="bg" value="#ffffff" aria-label="background colour">
  <label><input type="checkbox" id="matting"> Alpha matting (finer hair and edges; slower)</label>
</p>
<p id="status" role="status">Choose an image.</p>
<div class="row">
  <figure><img id="original" alt="original" hidden><figcaption>original</figcaption></figure>
  <figure><img id="result" alt="result" data-state="idle" hidden><figcaption>result</figcaption>
    <a id="download" hidden>Download</a></figure>
</div>
<script src="page.js"></script>
</body>
</html>
`;
}
