/**
 * Shared CLI plumbing: option parsing (node:util `parseArgs`) with help texts
 * built from the same defaults the code uses, one-line user errors (exit 1,
 * no stack trace), one-line permission errors naming the flag, and a
 * progress bar (TTY) or plain progress lines (piped).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import denoJson from "../deno.json" with { type: "json" };
import { taskWithFlag } from "./task_line.ts";
import { WEIGHTS_ENV } from "../lib/predict/weights_path.ts";

/** A mistake of the user's: printed as one line, exit status 1. */
export class UserError extends Error {
  override name = "UserError";
}

/** One option of a command. */
export interface OptionSpec {
  /** Value kind. */
  type: "string" | "boolean";
  /** One-letter alias. */
  short?: string;
  /** Repeatable. */
  multiple?: boolean;
  /** Help text. */
  help: string;
  /** Default shown in the help (taken from the code's constants). */
  default?: string | number | boolean;
  /** Placeholder in the help, e.g. "DIR". */
  arg?: string;
}

/** A command's usage, summary and options. */
export interface CommandSpec {
  /** Command name (`predict`). */
  name: string;
  /** Positional part of the usage line, e.g. `<image|folder>...`. */
  usage: string;
  /** What the command does (a few lines). */
  summary: string;
  /** Options by long name. */
  options: Record<string, OptionSpec>;
  /** Example lines. */
  examples?: string[];
}

/** Parsed options and positionals. */
export interface ParsedCommand {
  /** Option values by long name (absent when not given). */
  values: Record<string, string | boolean | string[] | undefined>;
  /** Positional arguments. */
  positionals: string[];
}

/**
 * The help text of a command.
 *
 * @example
 * ```ts
 * import { formatHelp } from "./_common.ts";
 * formatHelp({ name: "x", usage: "", summary: "Does x.", options: {} }).startsWith("usage:"); // true
 * ```
 */
export function formatHelp(spec: CommandSpec): string {
  const rows = Object.entries(spec.options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : "    "}--${name}${o.arg ? ` ${o.arg}` : ""}`;
    const def = o.default === undefined || o.default === "" ? "" : ` (default: ${o.default})`;
    return [flag, `${o.help}${def}`];
  });
  rows.push(["-h, --help", "show this help"]);
  const w = Math.max(...rows.map(([f]) => f.length)) + 2;
  const lines = [
    `usage: deno task ${[spec.name, spec.usage, "[options]"].filter((w) => w).join(" ")}`,
    "",
    spec.summary,
    "",
    "options:",
    ...rows.map(([f, h]) => `  ${f.padEnd(w)}${h}`),
  ];
  if (spec.examples?.length) lines.push("", "examples:", ...spec.examples.map((e) => `  ${e}`));
  return lines.join("\n");
}

/**
 * Parses `args` against `spec` (strict: unknown options are user errors).
 * Returns "help" for `-h`/`--help`.
 *
 * @example
 * ```ts
 * import { parseCommand } from "./_common.ts";
 * const spec = { name: "x", usage: "", summary: "", options: { n: { type: "string" as const, help: "" } } };
 * parseCommand(["--n", "3", "a"], spec); // { values: { n: "3" }, positionals: ["a"] }
 * ```
 */
export function parseCommand(args: string[], spec: CommandSpec): ParsedCommand | "help" {
  if (args.includes("-h") || args.includes("--help")) return "help";
  const options = Object.fromEntries(
    Object.entries(spec.options).map(([k, o]) => [k, {
      type: o.type,
      ...(o.short ? { short: o.short } : {}),
      ...(o.multiple ? { multiple: true } : {}),
    }]),
  );
  try {
    const { values, positionals } = parseArgs({
      args: joinNegativeValues(args, spec),
      options,
      allowPositionals: true,
      strict: true,
    });
    return { values: values as ParsedCommand["values"], positionals };
  } catch (e) {
    const message = (e as Error).message.split("\n")[0];
    const unknown = /^Unknown option '(-{1,2}[^']*)'/.exec(message)?.[1];
    if (unknown) {
      const near = closestOption(unknown.replace(/^-+/, "").replace(/=.*$/, ""), spec);
      throw new UserError(
        `unknown option ${unknown}${
          near ? `; did you mean --${near}?` : ""
        } (see "${spec.name} --help")`,
      );
    }
    throw new UserError(`${message} (see "${spec.name} --help")`);
  }
}

/** The option whose name is nearest `name` (a prefix of it, else within 2 edits), if any. */
function closestOption(name: string, spec: CommandSpec): string | undefined {
  const names = Object.keys(spec.options);
  if (name.length < 2) return undefined; // a short flag: nothing near enough to guess
  const prefixed = names.filter((n) => n.startsWith(name) || name.startsWith(n));
  if (prefixed.length === 1) return prefixed[0];
  const distance = (a: string, b: string) => {
    let row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      const next = [i];
      for (let j = 1; j <= b.length; j++) {
        next[j] = Math.min(
          row[j] + 1,
          next[j - 1] + 1,
          row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
        );
      }
      row = next;
    }
    return row[b.length];
  };
  const best = names.map((n) => [n, distance(name, n)] as const).sort((x, y) => x[1] - y[1])[0];
  return best && best[1] <= Math.min(2, name.length >> 1) ? best[0] : undefined;
}

/**
 * `--threshold -0.5` as `--threshold=-0.5`: a value that reads as a negative
 * number goes to the string option before it (parseArgs would call it
 * ambiguous), so that the option's own range check can answer.
 */
function joinNegativeValues(args: string[], spec: CommandSpec): string[] {
  const long = new Map<string, string>(); // --name and -n of string options → --name
  for (const [name, o] of Object.entries(spec.options)) {
    if (o.type !== "string") continue;
    long.set(`--${name}`, `--${name}`);
    if (o.short) long.set(`-${o.short}`, `--${name}`);
  }
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--") return [...out, ...args.slice(i)];
    const flag = long.get(args[i]);
    if (flag && /^-(?:\d|\.\d)/.test(args[i + 1] ?? "")) out.push(`${flag}=${args[++i]}`);
    else out.push(args[i]);
  }
  return out;
}

/** A string option, or `fallback`. */
export function stringOption(p: ParsedCommand, name: string, fallback: string): string {
  const v = p.values[name];
  return typeof v === "string" ? v : fallback;
}

/** An integer option within [min, max], or `fallback`. */
export function intOption(
  p: ParsedCommand,
  name: string,
  fallback: number,
  min = 0,
  max = 1e9,
): number {
  const v = p.values[name];
  if (typeof v !== "string") return fallback;
  const n = Number(v);
  if (!/^-?\d+$/.test(v.trim()) || n < min || n > max) {
    throw new UserError(`--${name} must be an integer in [${min}, ${max}], got "${v}"`);
  }
  return n;
}

/** A number option within [min, max], or `fallback`. */
export function numberOption(
  p: ParsedCommand,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const v = p.values[name];
  if (typeof v !== "string") return fallback;
  const n = Number(v);
  if (v.trim() === "" || !(n >= min && n <= max)) {
    throw new UserError(`--${name} must be a number in [${min}, ${max}], got "${v}"`);
  }
  return n;
}

/** A choice option, or `fallback`. */
export function choiceOption<T extends string>(
  p: ParsedCommand,
  name: string,
  choices: readonly T[],
  fallback: T,
): T {
  const v = p.values[name];
  if (typeof v !== "string") return fallback;
  if (!choices.includes(v as T)) {
    throw new UserError(`--${name} must be one of ${choices.join("|")}, got "${v}"`);
  }
  return v as T;
}

/** `Requires write access to "out/x.png"` → `--allow-write=out/x.png`. */
export function permissionFlag(e: Error): string {
  const m = /Requires (\w+) access to "?([^",]*)"?/.exec(e.message);
  if (!m) return "more permissions";
  return `--allow-${m[1]}${m[2] ? `=${m[2]}` : ""}`;
}

function outsideCwd(path: string): boolean {
  try {
    const cwd = Deno.cwd();
    const abs = path.startsWith("/") ? path : `${cwd}/${path}`;
    const norm = abs.split("/").reduce<string[]>((a, part) => {
      if (part === "..") a.pop();
      else if (part && part !== ".") a.push(part);
      return a;
    }, []).join("/");
    return !(`/${norm}/`).startsWith(`${cwd.replace(/\/$/, "")}/`);
  } catch {
    return false;
  }
}

/**
 * The one line printed for a missing permission. With the path refused: says
 * whether it lies outside the current folder (which the tasks scope their
 * permissions to), and gives the task's command line with the flag added, to
 * run from the project folder.
 */
export function permissionMessage(command: string, flag: string, path?: string): string {
  if (path === undefined) return `${command} needs ${flag} (run it through "deno task ${command}")`;
  const kind = flag.replace(/=.*$/, "");
  const granted = (denoJson.tasks as Record<string, string>)[command]?.split(" ")
    .find((w) => w.startsWith(`${kind}=`))?.slice(kind.length + 1).replaceAll(",", ", ");
  const what = outsideCwd(path)
    ? `"${path}" is outside the project folder that "deno task ${command}" is scoped to`
    : `"deno task ${command}" grants ${kind} ${granted ? `to ${granted} only` : "nowhere"}`;
  return `${command} needs ${flag}: ${what}; pick another path, or ${runHint(command, flag)}`;
}

/**
 * "run from <project>: <the task's command line with `flag` added> …", or
 * "run deno run with that flag" where there is no such task (or no local
 * project: imported from a URL).
 */
export function runHint(command: string, flag: string): string {
  const line = import.meta.url.startsWith("file:") ? taskWithFlag(command, flag) : undefined;
  if (!line) return "run deno run with that flag";
  const root = fileURLToPath(new URL("..", import.meta.url)).replace(/[\\/]$/, "");
  return `run from ${root}: ${line} … (the same arguments, paths absolute)`;
}

/**
 * Throws a one-line permission error unless `desc` is granted (queried, never
 * prompted). `flag` is what the message tells the user to add.
 */
export function requirePermission(
  command: string,
  desc: Deno.PermissionDescriptor,
  flag: string,
): void {
  if (Deno.permissions.querySync(desc).state !== "granted") {
    const path = "path" in desc && typeof desc.path === "string" ? desc.path : undefined;
    throw new UserError(permissionMessage(command, flag, path));
  }
}

/**
 * {@linkcode requirePermission} for reading a dataset folder `path` and,
 * where it is a symbolic link, where it leads: the dataset loader opens each
 * sample by its resolved path, so a dataset linked into the project from
 * outside would fail midway.
 */
export function requireReadable(command: string, path: string): void {
  requirePermission(command, { name: "read", path }, `--allow-read=${path}`);
  let real: string;
  try {
    real = Deno.realPathSync(path);
  } catch {
    return; // missing: the command says so itself
  }
  if (Deno.permissions.querySync({ name: "read", path: real }).state !== "granted") {
    const message = permissionMessage(command, `--allow-read=${real}`, real);
    throw new UserError(message.replace(`"${real}"`, `"${real}" (where ${path} leads)`));
  }
}

const isPermissionError = (e: unknown): e is Error =>
  e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied;

/**
 * Runs a command body and turns failures into one line on stderr: user
 * errors and the library's "Cannot …" errors → exit 1; missing permissions →
 * `<command> needs --allow-x=… (run it through "deno task <command>")`,
 * exit 1; anything else is a bug: its stack, exit 2.
 */
export async function runCommand(command: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (isPermissionError(e)) {
      console.error(`error: ${permissionMessage(command, permissionFlag(e))}`);
      return 1;
    }
    const msg = e instanceof Error ? e.message.split("\n")[0] : String(e);
    if (
      e instanceof UserError ||
      ((e instanceof TypeError || e instanceof RangeError) && msg.startsWith("Cannot"))
    ) {
      console.error(`error: ${msg}`);
      return 1;
    }
    console.error(e);
    return 2;
  }
}

export { createProgress, type Progress, type ProgressOptions } from "./_progress.ts";

/**
 * The weights path from `$U2NET_WEIGHTS`, or undefined when unset or not
 * readable under the granted permissions.
 *
 * @example
 * ```ts ignore
 * const path = envWeights() ?? "runs/demo/model_best.safetensors";
 * ```
 */
export function envWeights(): string | undefined {
  try {
    return Deno.env.get(WEIGHTS_ENV) || undefined;
  } catch {
    return undefined;
  }
}
