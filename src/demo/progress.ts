/**
 * The engine's live progress line: on a terminal, one line rewritten in place every `intervalMs`;
 * otherwise (a log file, CI) a plain line every `plainIntervalMs`.
 */

import type { OrderEngine, OrderProgress } from "./engine.js";

export interface ProgressLineOptions {
  stream?: NodeJS.WriteStream;
  intervalMs?: number;
  plainIntervalMs?: number;
}

export function formatProgress(p: OrderProgress, perSecond?: number): string {
  const rate = perSecond === undefined ? "" : ` · ${perSecond.toFixed(1)}/s`;
  return (
    `orders: ${p.started} started · ${p.running} running · ${p.completed} completed · ${p.failed} failed` +
    ` | queue depth ${p.queueDepth} · timers ${p.timers}${rate}`
  );
}

/** Starts printing; the returned function prints a last line and stops. */
export function startProgressLine(
  engine: OrderEngine,
  options: ProgressLineOptions = {},
): () => Promise<void> {
  const stream = options.stream ?? process.stdout;
  const tty = stream.isTTY === true;
  const intervalMs = tty ? (options.intervalMs ?? 500) : (options.plainIntervalMs ?? 5_000);
  let last: { at: number; completed: number } | undefined;
  let busy = false;
  let width = 0;
  const print = async (final = false) => {
    if (busy) return;
    busy = true;
    try {
      const progress = await engine.progress();
      const now = Date.now();
      const rate = last
        ? ((progress.completed - last.completed) * 1000) / Math.max(1, now - last.at)
        : undefined;
      last = { at: now, completed: progress.completed };
      const line = formatProgress(progress, rate);
      if (tty) {
        stream.write(`\r${line.padEnd(width)}${final ? "\n" : ""}`);
        width = line.length;
      } else {
        stream.write(`${line}\n`);
      }
    } catch {
      // The store is closing or busy; the next tick tries again.
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void print(), intervalMs);
  void print();
  return async () => {
    clearInterval(timer);
    while (busy) await new Promise((resolve) => setTimeout(resolve, 10));
    await print(true);
  };
}
