/** Waiting in tests for what happens in the background: a condition to hold, or nothing to go wrong. */

/** Resolves when `check` returns true, polling every 20 ms; fails after `timeoutMs`. */
export async function until(check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Collects unhandled rejections while `fn` runs (and for `settleMs` after). */
export async function unhandledDuring(fn: () => Promise<void>, settleMs = 300): Promise<unknown[]> {
  const seen: unknown[] = [];
  const listener = (reason: unknown) => seen.push(reason);
  process.on("unhandledRejection", listener);
  try {
    await fn();
    await new Promise((resolve) => setTimeout(resolve, settleMs));
  } finally {
    process.off("unhandledRejection", listener);
  }
  return seen;
}
