import { assertEquals, assertMatch } from "../assert.ts";
import { run as train } from "../../cli/train.ts";
import { run as evaluate } from "../../cli/eval.ts";
import { capture } from "./capture.ts";

const DIR = "tests/.tmp/init_cwd";

/** `fn` with `$INIT_CWD` set to `dir` (as `deno task` run from there sets it). */
async function from<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const before = Deno.env.get("INIT_CWD");
  Deno.env.set("INIT_CWD", `${Deno.cwd()}/${dir}`);
  try {
    return await fn();
  } finally {
    if (before === undefined) Deno.env.delete("INIT_CWD");
    else Deno.env.set("INIT_CWD", before);
  }
}

Deno.test("train and eval take --data-path from $INIT_CWD, the folder deno task was started in", async () => {
  await Deno.remove(DIR, { recursive: true }).catch(() => {});
  await Deno.mkdir(`${DIR}/sub/data/images`, { recursive: true });
  await Deno.mkdir(`${DIR}/sub/data/masks`, { recursive: true });
  for (
    const [name, fn] of [
      ["train", () => train(["--data-path", "data", "--epochs", "1", "--output-dir", "out"])],
      ["eval", () => evaluate(["--data-path", "data", "--weights", "none.safetensors"])],
    ] as const
  ) {
    const r = await from(`${DIR}/sub`, () => capture(fn));
    assertEquals(r.code, 1, `${name}: ${r.stdout}${r.stderr}`);
    // the folder was found from $INIT_CWD: the error is about its (empty) contents, named in full
    assertMatch(r.stderr, /tests\/\.tmp\/init_cwd\/sub\/(data|none)/, name);
  }
});
