/**
 * The CLI: `deno run … cli/main.ts <command> [options]`, usually through the
 * `deno task <command>` entries that carry each command's scoped permissions.
 * Commands are loaded lazily, so `predict` never loads the training code.
 *
 * @module
 */
import { runCommand, UserError } from "./_common.ts";

/** A command module: `run(args)` resolves to the exit status. */
export interface CommandModule {
  /** Runs the command. */
  run(args: string[]): Promise<number>;
}

/** The commands, their one-line summaries and their lazy loaders. */
export const COMMANDS: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  train: {
    summary: "train U2-Net (the README demo without --data-path)",
    load: () => import("./train.ts"),
  },
  eval: {
    summary: "MAE and maxF1 on a dataset, like the seed's validation.py",
    load: () => import("./eval.ts"),
  },
  predict: {
    summary: "masks or cut-outs for images and folders",
    load: () => import("./predict.ts"),
  },
  serve: {
    summary: "HTTP prediction server with an upload page",
    load: () => import("./serve.ts"),
  },
  convert: {
    summary: "weights (.pth, .onnx, .safetensors) to safetensors",
    load: () => import("./convert.ts"),
  },
  info: { summary: "backend, GPU adapter and parameter counts", load: () => import("./info.ts") },
  pull: {
    summary: "download trained models (u2netp, u2net, …) into the cache",
    load: () => import("./pull.ts"),
  },
};

/**
 * The top-level help.
 *
 * @example
 * ```ts
 * import { mainHelp } from "./main.ts";
 * mainHelp().includes("predict"); // true
 * ```
 */
export function mainHelp(): string {
  const w = Math.max(...Object.keys(COMMANDS).map((c) => c.length)) + 2;
  return [
    "usage: deno task <command> [options]   (or: deno run <permissions> cli/main.ts <command> …)",
    "",
    "commands:",
    ...Object.entries(COMMANDS).map(([c, { summary }]) => `  ${c.padEnd(w)}${summary}`),
    "",
    `"deno task <command> --help" shows a command's options and their defaults.`,
  ].join("\n");
}

/**
 * Dispatches `args` (`<command> [options]`) and returns the exit status.
 *
 * @example
 * ```ts
 * import { main } from "./main.ts";
 * await main(["--help"]); // 0
 * ```
 */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  if (!command || command === "-h" || command === "--help" || command === "help") {
    console.log(mainHelp());
    return command ? 0 : 1;
  }
  const entry = COMMANDS[command];
  if (!entry) {
    return await runCommand("main", () => {
      throw new UserError(
        `unknown command "${command}"; commands: ${Object.keys(COMMANDS).join(", ")}`,
      );
    });
  }
  const mod = await entry.load();
  return await mod.run(rest);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
