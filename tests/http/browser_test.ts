import { assert, assertEquals, assertMatch } from "../assert.ts";
import { CHROMIUM, CHROMIUM_INSTALL, chromiumUnavailable, launchBrowser } from "./_cdp.ts";
import { testPng, tinyHandler } from "./fixtures.ts";

const skip = await chromiumUnavailable();
if (skip) {
  console.warn(
    `browser_test: SKIPPED: ${skip}. CI needs "${CHROMIUM_INSTALL}" and ` +
      `"deno test --allow-run=${CHROMIUM}".`,
  );
}

const TMP = new URL("../.tmp/browser/", import.meta.url);

Deno.test({
  name: "the upload page shows the result image after a PNG is chosen in headless chromium",
  ignore: skip !== undefined,
  async fn() {
    await Deno.mkdir(TMP, { recursive: true });
    const upload = new URL("upload.png", TMP);
    await Deno.writeFile(upload, testPng(40, 30));
    const profile = await Deno.makeTempDir({ dir: TMP.pathname, prefix: "profile-" });
    const { handle, model } = await tinyHandler({
      health: { model: { arch: "lite", name: "tiny.safetensors", demo: true } },
    }, 32);
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handle);
    const browser = await launchBrowser(profile);
    try {
      await browser.send("Page.enable");
      await browser.send("Page.navigate", { url: `http://127.0.0.1:${server.addr.port}/` });
      const until = async (expr: string, ms: number) => {
        const end = Date.now() + ms;
        while (Date.now() < end) {
          const v = await browser.evaluate(expr).catch(() => undefined);
          if (v) return v;
          await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error(`timed out waiting for ${expr}`);
      };
      await until(
        `document.readyState === "complete" && !!document.getElementById("file")`,
        15_000,
      );
      // Before any upload: the model's name and the demo warning, and no image shown
      // without a source (no broken-image icons).
      await until(
        `document.getElementById("model").textContent.includes("tiny.safetensors")`,
        10_000,
      );
      const before = JSON.parse(
        await browser.evaluate(`JSON.stringify({
        demo: !document.getElementById("demo").hidden,
        broken: [...document.images].filter((i) => !i.hidden && !i.getAttribute("src")).length,
        download: !document.getElementById("download").hidden,
      })`) as string,
      );
      assertEquals(before, { demo: true, broken: 0, download: false });
      await browser.evaluate(`document.getElementById("format").value = "cutout"`);
      const doc = await browser.send("DOM.getDocument", { depth: 0 });
      const input = await browser.send("DOM.querySelector", {
        nodeId: (doc.root as { nodeId: number }).nodeId,
        selector: "#file",
      });
      await browser.send("DOM.setFileInputFiles", {
        nodeId: input.nodeId,
        files: [upload.pathname],
      });
      await until(
        `["done", "error"].includes(document.getElementById("result").dataset.state)`,
        30_000,
      );
      const state = await browser.evaluate(`JSON.stringify({
        state: document.getElementById("result").dataset.state,
        status: document.getElementById("status").textContent,
        result: [document.getElementById("result").naturalWidth, document.getElementById("result").naturalHeight],
        original: [document.getElementById("original").naturalWidth, document.getElementById("original").naturalHeight],
        download: [document.getElementById("download").hidden, document.getElementById("download").href.slice(0, 5),
          document.getElementById("download").download],
      })`);
      const s = JSON.parse(state as string);
      assertEquals(s.state, "done", s.status);
      assertEquals(s.result, [40, 30]);
      assertEquals(s.original, [40, 30]);
      assert(/40x30/.test(s.status));
      assertEquals(s.download, [false, "blob:", "upload-cutout.png"]);
      // Ticking alpha matting asks again, with alpha=matting.
      await browser.evaluate(`(() => {
        const f = window.fetch;
        window.asked = [];
        window.fetch = (url, init) => (window.asked.push(String(url)), f(url, init));
        document.getElementById("result").dataset.state = "idle";
        const box = document.getElementById("matting");
        box.checked = true;
        box.dispatchEvent(new Event("change"));
      })()`);
      await until(`document.getElementById("result").dataset.state === "done"`, 30_000);
      assertMatch(
        await browser.evaluate(`window.asked.join(" ")`) as string,
        /predict\?format=cutout&threshold=0\.5&alpha=matting/,
      );
      // A dropped file (a 20x10 canvas PNG) replaces it, as a mask.
      await browser.evaluate(`(async () => {
        document.getElementById("format").value = "mask";
        const c = document.createElement("canvas");
        c.width = 20;
        c.height = 10;
        c.getContext("2d").fillRect(5, 2, 10, 6);
        const blob = await new Promise((r) => c.toBlob(r, "image/png"));
        const dt = new DataTransfer();
        dt.items.add(new File([blob], "dropped.png", { type: "image/png" }));
        document.getElementById("drop").dispatchEvent(
          new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }),
        );
      })()`);
      await until(
        `document.getElementById("result").dataset.state === "done" &&
          document.getElementById("result").naturalWidth === 20`,
        30_000,
      );
      assertEquals(
        await browser.evaluate(`document.getElementById("download").download`),
        "dropped-mask.png",
      );
      // A cleared threshold is left out (the server's default), not sent empty (a 400).
      await browser.evaluate(`(() => {
        window.asked = [];
        document.getElementById("result").dataset.state = "idle";
        const t = document.getElementById("threshold");
        t.value = "";
        t.dispatchEvent(new Event("change"));
      })()`);
      await until(
        `["done", "error"].includes(document.getElementById("result").dataset.state)`,
        30_000,
      );
      assertEquals(
        await browser.evaluate(`document.getElementById("result").dataset.state`),
        "done",
      );
      assertMatch(
        await browser.evaluate(`window.asked.join(" ")`) as string,
        /predict\?format=mask$/,
      );
    } finally {
      await browser.close();
      await server.shutdown();
      model.dispose();
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    }
  },
});
