/**
 * Runs CLI code in-process with its console output captured, and spawns
 * `deno` subprocesses when the test run may.
 *
 * @module
 */
import { DEFAULT_DEADLINE_MS, runProcess } from "../process.ts";

/** Captured output and the exit status. */
export interface Captured {
  /** The status the command returned. */
  code: number;
  /** What went to console.log. */
  stdout: string;
  /** What went to console.error/console.warn and Deno.stderr. */
  stderr: string;
}

/** Runs `fn` with console.log/error/warn and Deno.stderr.writeSync captured. */
export async function capture(fn: () => Promise<number>): Promise<Captured> {
  const out: string[] = [], err: string[] = [];
  const saved = { log: console.log, error: console.error, warn: console.warn };
  const savedWrite = Deno.stderr.writeSync;
  const fmt = (args: unknown[]) =>
    args.map((a) => typeof a === "string" ? a : Deno.inspect(a)).join(" ");
  console.log = (...a: unknown[]) => out.push(fmt(a) + "\n");
  console.error = console.warn = (...a: unknown[]) => err.push(fmt(a) + "\n");
  Deno.stderr.writeSync = (p: Uint8Array) => {
    err.push(new TextDecoder().decode(p));
    return p.length;
  };
  try {
    const code = await fn();
    return { code, stdout: out.join(""), stderr: err.join("") };
  } finally {
    Object.assign(console, saved);
    Deno.stderr.writeSync = savedWrite;
  }
}

/** Why `deno` subprocesses cannot run here, or undefined when they can. */
export function subprocessUnavailable(): string | undefined {
  const granted = Deno.permissions.querySync({ name: "run", command: "deno" }).state === "granted";
  return granted ? undefined : "the test run lacks --allow-run=deno";
}

/** Options of {@linkcode deno}. */
export interface DenoOptions {
  /** Extra environment variables. @default {{}} */
  env?: Record<string, string>;
  /** Milliseconds it may run before it is killed and the test fails. @default DEFAULT_DEADLINE_MS */
  deadlineMs?: number;
}

/**
 * Runs `deno <args>` in the project root within a deadline; returns status and
 * output (a process that passes its deadline is killed and the test fails with
 * its output).
 */
export function deno(args: string[], options: DenoOptions = {}): Promise<Captured> {
  return runProcess("deno", {
    args,
    cwd: new URL("../../", import.meta.url).pathname,
    env: options.env,
    deadlineMs: options.deadlineMs ?? DEFAULT_DEADLINE_MS,
  });
}
