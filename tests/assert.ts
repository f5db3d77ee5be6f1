/**
 * Minimal assertions for the tests (no Deno std available), on top of
 * `node:assert/strict`.
 *
 * @module
 */
import nodeAssert from "node:assert/strict";

/** Asserts that `cond` is truthy. */
export function assert(cond: unknown, msg?: string): asserts cond {
  nodeAssert.ok(cond, msg);
}

/** Deep strict equality (Maps, Sets, typed arrays and bigints included). */
export function assertEquals(actual: unknown, expected: unknown, msg?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, msg);
}

/** Asserts that `fn` throws an instance of `ctor` whose one-line message includes `includes`. */
export function assertThrows(
  fn: () => unknown,
  ctor: new (...args: never[]) => Error,
  includes = "",
): Error {
  try {
    fn();
  } catch (e) {
    checkError(e, ctor, includes);
    return e as Error;
  }
  throw new Error(`expected ${ctor.name} including "${includes}", nothing was thrown`);
}

/** Async variant of {@linkcode assertThrows}. */
export async function assertRejects(
  fn: () => Promise<unknown>,
  ctor: new (...args: never[]) => Error,
  includes = "",
): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    checkError(e, ctor, includes);
    return e as Error;
  }
  throw new Error(`expected ${ctor.name} including "${includes}", nothing was thrown`);
}

function checkError(e: unknown, ctor: new (...args: never[]) => Error, includes: string): void {
  if (!(e instanceof ctor)) throw new Error(`expected ${ctor.name}, got ${String(e)}`);
  if (!e.message.includes(includes)) {
    throw new Error(`expected message including "${includes}", got "${e.message}"`);
  }
  if (e.message.includes("\n")) throw new Error(`expected a one-line message: "${e.message}"`);
}

/** Asserts that `text` matches `re`. */
export function assertMatch(text: string, re: RegExp, msg?: string): void {
  nodeAssert.match(text, re, msg);
}
