/** A progress bar on stderr for long operations, drawn only on a terminal (and never with --json). */

export interface ProgressBar {
  /** Sets how far along it is (`done` of `total`; total 0 or unknown draws a counter). */
  update(done: number, note?: string): void;
  /** Draws the final state and ends the line. */
  finish(note?: string): void;
}

const WIDTH = 30;

export function progressBar(
  label: string,
  total: number,
  enabled = process.stderr.isTTY === true,
): ProgressBar {
  if (!enabled) return { update() {}, finish() {} };
  const stream = process.stderr;
  let lastDraw = 0;
  let current = 0;
  const draw = (note = "") => {
    const ratio = total > 0 ? Math.min(1, current / total) : 0;
    const filled = Math.round(ratio * WIDTH);
    const bar =
      total > 0
        ? `[${"#".repeat(filled)}${"-".repeat(WIDTH - filled)}] ${(ratio * 100).toFixed(0).padStart(3)}%`
        : "";
    const counts = total > 0 ? `${current}/${total}` : `${current}`;
    stream.write(`\r${label} ${bar} ${counts}${note ? ` ${note}` : ""}\x1b[K`);
  };
  return {
    update(done, note) {
      current = done;
      const now = Date.now();
      if (now - lastDraw < 80 && done < total) return;
      lastDraw = now;
      draw(note);
    },
    finish(note) {
      if (total > 0) current = Math.max(current, total);
      draw(note);
      stream.write("\n");
    },
  };
}

/** 1536 -> "1.5 KiB". */
export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
