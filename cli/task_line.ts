/**
 * The deno.json task lines of the CLI commands, for messages that tell the
 * user which `deno run` line to use instead of a task.
 *
 * @module
 */
import denoJson from "../deno.json" with { type: "json" };

/**
 * `deno task <command>`'s command line (deno.json) with `flag` added: its
 * `--allow-x=` list extended by the flag's paths, or the flag appended.
 * Undefined where the task is not `deno run … cli/main.ts <command>`.
 *
 * @example
 * ```ts
 * import { taskWithFlag } from "./task_line.ts";
 * taskWithFlag("convert", "--allow-write=/out"); // "deno run --allow-read=. --allow-write=.,/out …"
 * ```
 */
export function taskWithFlag(command: string, flag: string): string | undefined {
  const task = (denoJson.tasks as Record<string, string>)[command];
  if (!task || !task.endsWith(` cli/main.ts ${command}`)) return undefined;
  const [, kind, paths] = /^(--allow-\w+)(?:=(.*))?$/.exec(flag) ?? [];
  if (!kind || paths?.includes(",")) return undefined; // a comma cannot go in a flag's list
  const words = task.split(" ");
  const i = words.findIndex((w) => w === kind || w.startsWith(`${kind}=`));
  if (i < 0) words.splice(words.indexOf("run") + 1, 0, shellWord(flag));
  else if (paths !== undefined && words[i] !== kind) words[i] = shellWord(`${words[i]},${paths}`);
  else words[i] = kind; // unscoped
  return words.join(" ");
}

/**
 * `word` as a POSIX shell reads it: double-quoted when it holds anything but
 * safe characters, `$HOME` (the tasks' own) left for the shell to expand.
 */
function shellWord(word: string): string {
  if (/^[\w@%+=:,./$-]*$/.test(word)) return word;
  return `"${word.replace(/[\\"`]/g, "\\$&").replace(/\$(?!HOME\b)/g, "\\$")}"`;
}
