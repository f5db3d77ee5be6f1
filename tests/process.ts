/**
 * Processes started by tests, each with a deadline: a process still running
 * when its deadline passes is stopped (SIGTERM, then SIGKILL after
 * {@linkcode KILL_GRACE_MS}) and the test fails with what it printed. Its
 * stdout and stderr are always drained, so it never blocks on a full pipe.
 *
 * ```ts
 * const p = startProcess("deno", { args: ["serve", "--port", "0", "lib/http/server.ts"] });
 * try {
 *   const [, url] = await p.waitFor(/Listening on (\S+)/);
 * } finally {
 *   await p.stop();
 * }
 * ```
 *
 * @module
 */

/** Deadline of a process a test starts when it names none, in milliseconds. */
export const DEFAULT_DEADLINE_MS = 120_000;

/** Time a process gets to exit after SIGTERM before SIGKILL, in milliseconds. */
export const KILL_GRACE_MS = 3_000;

/** How much of each stream a failure message quotes (its end), in characters. */
const QUOTED_CHARS = 3_000;

/** What a process printed and how it ended. */
export interface ProcessOutput {
  /** Exit code (128 + signal number when killed by a signal). */
  code: number;
  /** Everything it wrote to stdout. */
  stdout: string;
  /** Everything it wrote to stderr. */
  stderr: string;
}

/** Options of {@linkcode startProcess}. */
export interface StartProcessOptions {
  /** Arguments. @default {[]} */
  args?: string[];
  /** Working directory. @default {the test's} */
  cwd?: string | URL;
  /** Extra environment variables (NO_COLOR=1 is always set). @default {{}} */
  env?: Record<string, string>;
  /** Text written to its stdin, which is then closed; without it stdin is null. @default {undefined} */
  stdin?: string;
  /** Milliseconds it may run before it is stopped and the test fails. @default DEFAULT_DEADLINE_MS */
  deadlineMs?: number;
}

/** A process started by {@linkcode startProcess}. */
export interface TestProcess {
  /** The underlying child process. */
  readonly child: Deno.ChildProcess;
  /** Its stdout so far. */
  readonly stdout: string;
  /** Its stderr so far. */
  readonly stderr: string;
  /**
   * Resolves with the first match of `pattern` in its stderr or stdout;
   * rejects with its output when it exits or passes its deadline first.
   */
  waitFor(pattern: RegExp): Promise<RegExpExecArray>;
  /** Waits for it to exit; rejects with its output when it passes its deadline. */
  output(): Promise<ProcessOutput>;
  /** Sends SIGTERM (SIGKILL after {@linkcode KILL_GRACE_MS}) and waits for it to exit. */
  stop(): Promise<Deno.CommandStatus>;
}

const sleep = (ms: number, timers: Set<ReturnType<typeof setTimeout>>) =>
  new Promise<void>((resolve) => {
    const id = setTimeout(() => {
      timers.delete(id);
      resolve();
    }, ms);
    timers.add(id);
  });

/**
 * Starts `command` with a deadline.
 *
 * @example
 * ```ts
 * const out = await startProcess("deno", { args: ["--version"], deadlineMs: 10_000 }).output();
 * ```
 */
export function startProcess(command: string, options: StartProcessOptions = {}): TestProcess {
  const deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
  const args = options.args ?? [];
  const label = `${command} ${args.join(" ")}`.slice(0, 200);
  const child = new Deno.Command(command, {
    args,
    cwd: options.cwd,
    env: { NO_COLOR: "1", ...options.env },
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const text = { stdout: "", stderr: "" };
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const l of [...listeners]) l();
  };
  let expired = false, finished = false;

  const readers = (["stdout", "stderr"] as const).map((name) => {
    const reader = child[name].getReader();
    const decoder = new TextDecoder();
    const done = (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          text[name] += decoder.decode(value, { stream: true });
          notify();
        }
      } catch { /* cancelled */ }
    })();
    return { reader, done };
  });
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    w.write(new TextEncoder().encode(options.stdin)).then(() => w.close()).catch(() => {});
  }

  const terminate = () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already exited */ }
    sleep(KILL_GRACE_MS, timers).then(() => {
      if (finished) return;
      try {
        child.kill("SIGKILL");
      } catch { /* already exited */ }
    });
  };
  const deadline = setTimeout(() => {
    timers.delete(deadline);
    expired = true;
    terminate();
  }, deadlineMs);
  timers.add(deadline);

  const exited = (async () => {
    const status = await child.status;
    // A grandchild that outlived it (`deno task` after SIGKILL) may hold the pipes open.
    const drained = Promise.all(readers.map((r) => r.done));
    const late = await Promise.race([
      drained.then(() => false),
      sleep(1_000, timers).then(() => true),
    ]);
    if (late) await Promise.all(readers.map((r) => r.reader.cancel().catch(() => {})));
    await drained;
    finished = true;
    for (const id of timers) clearTimeout(id);
    timers.clear();
    notify();
    return status;
  })();

  const tail = (s: string) => s.length > QUOTED_CHARS ? `…${s.slice(-QUOTED_CHARS)}` : s;
  const failure = (what: string) =>
    new Error(
      `${label}: ${what}\n--- stdout ---\n${tail(text.stdout)}\n--- stderr ---\n${
        tail(text.stderr)
      }`,
    );
  const deadlineFailure = () =>
    failure(`still running after its ${deadlineMs} ms deadline; killed it`);

  return {
    child,
    get stdout() {
      return text.stdout;
    },
    get stderr() {
      return text.stderr;
    },
    async waitFor(pattern: RegExp): Promise<RegExpExecArray> {
      for (;;) {
        const m = pattern.exec(text.stderr) ?? pattern.exec(text.stdout);
        if (m) return m;
        if (finished) {
          const status = await exited;
          throw expired
            ? deadlineFailure()
            : failure(`exited with ${status.code} before printing ${pattern}`);
        }
        await new Promise<void>((resolve) => {
          const l = () => {
            listeners.delete(l);
            resolve();
          };
          listeners.add(l);
        });
      }
    },
    async output(): Promise<ProcessOutput> {
      const status = await exited;
      if (expired) throw deadlineFailure();
      return { code: status.code, stdout: text.stdout, stderr: text.stderr };
    },
    stop(): Promise<Deno.CommandStatus> {
      if (!finished) terminate();
      return exited;
    },
  };
}

/**
 * Runs `command` to completion within its deadline and returns its output.
 *
 * @example
 * ```ts
 * const { code, stdout } = await runProcess("deno", { args: ["--version"] });
 * ```
 */
export function runProcess(
  command: string,
  options: StartProcessOptions = {},
): Promise<ProcessOutput> {
  return startProcess(command, options).output();
}
