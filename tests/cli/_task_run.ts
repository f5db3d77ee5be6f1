/**
 * Runs a CLI command in a `deno run` subprocess with exactly the permission
 * flags of its deno.json task (plus any extra hosts or folders a test
 * grants), a deadline, and a model-cache environment.
 *
 * @module
 */
import type { Captured } from "./capture.ts";

const root = new URL("../../", import.meta.url);
const tasks = JSON.parse(await Deno.readTextFile(new URL("deno.json", root))).tasks as Record<
  string,
  string
>;

/** Extra permissions on top of a task's. */
export interface ExtraFlags {
  /** Hosts appended to `--allow-net` (e.g. "127.0.0.1"). */
  net?: string;
  /** Paths appended to `--allow-write` and `--allow-read`. */
  write?: string;
}

/** The permission flags of `task` with `$HOME` expanded and `extra` appended. */
export function taskFlags(task: string, extra: ExtraFlags = {}): string[] {
  const home = Deno.env.get("HOME") ?? "";
  const flags = tasks[task].split(/\s+/).filter((a) => a.startsWith("--allow-"))
    .map((a) => a.replaceAll("$HOME", home));
  const add = (prefix: string, value?: string) => {
    if (!value) return;
    const i = flags.findIndex((f) => f.startsWith(`${prefix}=`));
    if (i >= 0) flags[i] += `,${value}`;
    else flags.push(`${prefix}=${value}`);
  };
  add("--allow-net", extra.net);
  add("--allow-write", extra.write);
  add("--allow-read", extra.write);
  return flags;
}

/**
 * Runs `deno run <task flags> cli/main.ts <task> <args>` in the project
 * root with `env` added, killed after `timeoutMs`.
 */
export async function runTask(
  task: string,
  args: string[],
  options: { env?: Record<string, string>; extra?: ExtraFlags; timeoutMs?: number } = {},
): Promise<Captured> {
  const r = await new Deno.Command("deno", {
    args: ["run", ...taskFlags(task, options.extra), "cli/main.ts", task, ...args],
    cwd: root.pathname,
    env: { NO_COLOR: "1", U2NET_WEIGHTS: "", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(options.timeoutMs ?? 90_000),
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}
