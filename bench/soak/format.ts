/**
 * Number, size and status-count formatting shared by the progress lines (run.ts), the checks'
 * details (checks.ts) and the report (report-text.ts).
 */

export function statusList(counts: Record<string, number>): string {
  return Object.entries(counts)
    .map(([status, n]) => `${status} ${fmt(n)}`)
    .join(", ");
}

export function fmt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

export function mb(bytes: number): string {
  return `${Math.round(bytes / 1024 / 1024)}M`;
}

export function signedMb(bytes: number): string {
  return `${bytes >= 0 ? "+" : "-"}${mb(Math.abs(bytes))}`;
}
