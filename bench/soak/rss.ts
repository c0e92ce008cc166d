/**
 * The RSS check's judgement of one worker: the growth limit and rssTrend, which compares the median of
 * the last third of its samples with the middle third's. Pure arithmetic, apart from the run.
 */

/**
 * "Flat": the median RSS of the last third of a worker's samples is at most this much above the
 * median of its middle third (the first third is warm-up: tsx compiling, the pool and the prefetch
 * buffer filling). The larger of the two bounds applies: the absolute one covers V8 sizing its heap
 * in steps of several MB under allocation bursts, the relative one a leak that grows with the work done.
 */
export const RSS_GROWTH_LIMIT = { bytes: 30 * 1024 * 1024, fraction: 0.2 } as const;

export interface RssTrend {
  samples: number;
  /** False for a worker with fewer than rssMinSamples samples: not judged. */
  eligible: boolean;
  middleMedian: number;
  lastMedian: number;
  growth: number;
  limit: number;
  flat: boolean;
}

/** Judges one worker's RSS samples (bytes, in order) by RSS_GROWTH_LIMIT. */
export function rssTrend(samples: readonly number[], minSamples: number): RssTrend {
  const n = samples.length;
  const middleMedian = median(samples.slice(Math.floor(n / 3), Math.floor((2 * n) / 3)));
  const lastMedian = median(samples.slice(Math.floor((2 * n) / 3)));
  const growth = lastMedian - middleMedian;
  const limit = Math.max(RSS_GROWTH_LIMIT.bytes, RSS_GROWTH_LIMIT.fraction * middleMedian);
  const eligible = n >= Math.max(3, minSamples);
  return {
    samples: n,
    eligible,
    middleMedian,
    lastMedian,
    growth,
    limit,
    flat: !eligible || growth <= limit,
  };
}

function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
