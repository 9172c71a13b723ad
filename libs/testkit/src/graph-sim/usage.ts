const WINDOW_MS = 1000;
// Evicted slots are reclaimed once they are both this many and half of the array, so eviction
// stays amortized O(1) per recorded call.
const COMPACT_AFTER = 1024;

/** Call times in a sliding one-second window. */
export class SlidingWindow {
  private times: number[] = [];
  private head = 0;

  /** Records a call at `now` (ms). */
  record(now: number): void {
    this.times.push(now);
  }

  /** Returns the number of calls in the second that ends at `now`. */
  count(now: number): number {
    this.evict(now);
    return this.times.length - this.head;
  }

  /** Returns the milliseconds from `now` until fewer than `limit` calls remain in the window. */
  msUntilBelow(limit: number, now: number): number {
    const excess = this.count(now) - limit;
    if (excess < 0) return 0;
    const oldestToExpire = this.times[this.head + excess] ?? now;
    return Math.max(0, oldestToExpire + WINDOW_MS - now);
  }

  private evict(now: number): void {
    const cutoff = now - WINDOW_MS;
    while (this.head < this.times.length && (this.times[this.head] ?? now) <= cutoff) {
      this.head += 1;
    }
    if (this.head >= COMPACT_AFTER && this.head * 2 >= this.times.length) {
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
  }
}

/** One entry of `X-Business-Use-Case-Usage`; the three usage figures are percentages. */
export interface BusinessUseCaseUsage {
  type: string;
  call_count: number;
  total_cputime: number;
  total_time: number;
  /** Minutes until calls are accepted again; 0 when not throttled. */
  estimated_time_to_regain_access: number;
}

/** Percentage of `limit` used by `count` calls, rounded down. Exceeds 100 while throttled. */
export function usagePercent(count: number, limit: number): number {
  return Math.floor((100 * count) / limit);
}

/** Formats `X-App-Usage`. The simulator reports the same percentage for all three figures. */
export function appUsageHeader(percent: number): string {
  return JSON.stringify({ call_count: percent, total_cputime: percent, total_time: percent });
}

/**
 * Formats `X-Business-Use-Case-Usage`, keyed by the Instagram account the call was made for.
 * NOTE: the `type` value `instagram` is the simulator's choice; a receiver should read the entry by
 * its key and accept any `type`.
 */
export function businessUseCaseUsageHeader(
  igBusinessId: string | null,
  percent: number,
  regainAccessMinutes: number,
): string {
  if (igBusinessId === null) return '{}';
  const usage: BusinessUseCaseUsage = {
    type: 'instagram',
    call_count: percent,
    total_cputime: percent,
    total_time: percent,
    estimated_time_to_regain_access: regainAccessMinutes,
  };
  return JSON.stringify({ [igBusinessId]: [usage] });
}
