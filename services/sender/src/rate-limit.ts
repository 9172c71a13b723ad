import type { GraphUsage } from '@ig-router/core';

export interface RateLimiterOptions {
  /** Refill rate per account, in sends per second. */
  ratePerSecond: number;
  /** Usage percentage from which the rate is reduced. */
  slowdownPercent: number;
  clock?: () => number;
}

interface Bucket {
  /** Available tokens; negative while sends wait for a reservation. */
  tokens: number;
  refilledAt: number;
  /** Share of the configured rate allowed by the account's usage header, from 0.1 to 1. */
  usageFactor: number;
}

/** Lowest share of the configured rate that usage-based slowdown goes down to. */
const MIN_FACTOR = 0.1;

/**
 * Token buckets per account. A bucket holds at most a tenth of a second of sends, so an idle
 * account bursts at most `ratePerSecond / 10` sends above its rate, and in any one-second
 * window at most 1.1 times the rate is sent. Usage headers reduce the rate before Meta starts
 * rejecting calls: `X-Business-Use-Case-Usage` for its account, `X-App-Usage` for all.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly ratePerMs: number;
  private readonly capacity: number;
  private readonly clock: () => number;
  private appFactor = 1;

  constructor(private readonly options: RateLimiterOptions) {
    this.ratePerMs = options.ratePerSecond / 1000;
    this.capacity = Math.max(1, options.ratePerSecond / 10);
    this.clock = options.clock ?? Date.now;
  }

  /**
   * Reserves one send for the account and returns how long to wait before sending, in ms.
   * Reservations are granted in call order.
   */
  reserve(igBusinessId: string): number {
    const now = this.clock();
    const bucket = this.refill(igBusinessId, now);
    bucket.tokens -= 1;
    if (bucket.tokens >= 0) return 0;
    return Math.ceil(-bucket.tokens / this.effectiveRatePerMs(bucket));
  }

  /** Adjusts the rates from the usage headers of a Graph response for the account. */
  noteUsage(igBusinessId: string, usage: GraphUsage): void {
    if (usage.app) {
      this.appFactor = this.factorFor(
        Math.max(usage.app.call_count, usage.app.total_cputime, usage.app.total_time),
      );
    }
    if (usage.businessUseCase.length === 0) return;

    let highest = 0;
    for (const entry of usage.businessUseCase) {
      highest = Math.max(highest, entry.call_count, entry.total_cputime, entry.total_time);
    }
    const bucket = this.refill(igBusinessId, this.clock());
    bucket.usageFactor = this.factorFor(highest);
  }

  /** Returns the account's current share of the configured rate, for tests and logs. */
  factor(igBusinessId: string): number {
    return Math.min(this.appFactor, this.buckets.get(igBusinessId)?.usageFactor ?? 1);
  }

  forget(igBusinessId: string): void {
    this.buckets.delete(igBusinessId);
  }

  private factorFor(percent: number): number {
    const threshold = this.options.slowdownPercent;
    if (percent < threshold) return 1;
    if (threshold >= 100) return MIN_FACTOR;
    return Math.max(MIN_FACTOR, (100 - percent) / (100 - threshold));
  }

  private effectiveRatePerMs(bucket: Bucket): number {
    return this.ratePerMs * Math.min(this.appFactor, bucket.usageFactor);
  }

  private refill(igBusinessId: string, now: number): Bucket {
    let bucket = this.buckets.get(igBusinessId);
    if (!bucket) {
      bucket = { tokens: this.capacity, refilledAt: now, usageFactor: 1 };
      this.buckets.set(igBusinessId, bucket);
      return bucket;
    }
    const elapsed = Math.max(0, now - bucket.refilledAt);
    bucket.tokens = Math.min(
      this.capacity,
      bucket.tokens + elapsed * this.effectiveRatePerMs(bucket),
    );
    bucket.refilledAt = now;
    return bucket;
  }
}
