import { describe, expect, it } from 'vitest';
import { OffsetTracker } from '../src/consume-outbound.js';
import { KeyedQueue, Semaphore } from '../src/queues.js';
import { RateLimiter } from '../src/rate-limit.js';

describe('OffsetTracker', () => {
  it('returns the contiguous low-water mark of finished offsets', () => {
    const tracker = new OffsetTracker(['10', '11', '12', '13']);
    expect(tracker.lowWaterMark()).toBeUndefined();
    tracker.finish('12');
    expect(tracker.lowWaterMark()).toBeUndefined();
    tracker.finish('10');
    expect(tracker.lowWaterMark()).toBe('10');
    tracker.finish('11');
    expect(tracker.lowWaterMark()).toBe('12');
    expect(tracker.allFinished).toBe(false);
    tracker.finish('13');
    expect(tracker.lowWaterMark()).toBe('13');
    expect(tracker.allFinished).toBe(true);
  });

  it('handles gaps between offsets of a compacted or filtered batch', () => {
    const tracker = new OffsetTracker(['5', '9', '20']);
    tracker.finish('9');
    tracker.finish('5');
    expect(tracker.lowWaterMark()).toBe('9');
  });

  it('never moves backwards', () => {
    const tracker = new OffsetTracker(['1', '2', '3']);
    tracker.finish('1');
    tracker.finish('2');
    expect(tracker.lowWaterMark()).toBe('2');
    tracker.finish('1');
    expect(tracker.lowWaterMark()).toBe('2');
  });
});

describe('KeyedQueue', () => {
  it('runs tasks of a key in order and other keys in parallel', async () => {
    const queue = new KeyedQueue();
    const events: string[] = [];
    let releaseA1: () => void = () => {};
    const a1 = queue.run('a', async () => {
      events.push('a1 start');
      await new Promise<void>((resolve) => (releaseA1 = resolve));
      events.push('a1 end');
    });
    const a2 = queue.run('a', async () => {
      events.push('a2');
    });
    const b1 = queue.run('b', async () => {
      events.push('b1');
    });
    await b1;
    expect(events).toEqual(['a1 start', 'b1']);
    releaseA1();
    await Promise.all([a1, a2]);
    expect(events).toEqual(['a1 start', 'b1', 'a1 end', 'a2']);
  });

  it('starts the next task after a failed one', async () => {
    const queue = new KeyedQueue();
    const failed = queue.run('a', async () => {
      throw new Error('boom');
    });
    const next = queue.run('a', async () => 'ran');
    await expect(failed).rejects.toThrow('boom');
    await expect(next).resolves.toBe('ran');
  });

  it('forgets idle keys', async () => {
    const queue = new KeyedQueue();
    await queue.run('a', async () => {});
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(queue.size).toBe(0);
  });
});

describe('Semaphore', () => {
  it('grants permits in request order', async () => {
    const semaphore = new Semaphore(1);
    const order: number[] = [];
    await semaphore.acquire();
    const waiting = [1, 2, 3].map((n) => semaphore.acquire().then(() => order.push(n)));
    semaphore.release();
    await waiting[0];
    semaphore.release();
    await waiting[1];
    semaphore.release();
    await waiting[2];
    expect(order).toEqual([1, 2, 3]);
  });
});

describe('RateLimiter', () => {
  it('lets a tenth of a second of sends through at once, then spaces them at the rate', () => {
    let now = 0;
    const limiter = new RateLimiter({ ratePerSecond: 100, slowdownPercent: 80, clock: () => now });
    const waits = Array.from({ length: 12 }, () => limiter.reserve('a'));
    expect(waits.slice(0, 10)).toEqual(Array(10).fill(0));
    expect(waits[10]).toBe(10);
    expect(waits[11]).toBe(20);
    now = 1_000;
    expect(limiter.reserve('a')).toBe(0);
  });

  it('keeps accounts apart', () => {
    const limiter = new RateLimiter({ ratePerSecond: 1, slowdownPercent: 80, clock: () => 0 });
    expect(limiter.reserve('a')).toBe(0);
    expect(limiter.reserve('a')).toBe(1_000);
    expect(limiter.reserve('b')).toBe(0);
  });

  it('slows an account whose business use case usage passes the threshold', () => {
    const limiter = new RateLimiter({ ratePerSecond: 100, slowdownPercent: 80, clock: () => 0 });
    const usage = (percent: number) => ({
      businessUseCase: [
        {
          business_id: 'a',
          type: 'instagram',
          call_count: percent,
          total_cputime: 0,
          total_time: 0,
          estimated_time_to_regain_access: 0,
        },
      ],
    });
    limiter.noteUsage('a', usage(50));
    expect(limiter.factor('a')).toBe(1);
    limiter.noteUsage('a', usage(90));
    expect(limiter.factor('a')).toBe(0.5);
    limiter.noteUsage('a', usage(100));
    expect(limiter.factor('a')).toBe(0.1);
    expect(limiter.factor('b')).toBe(1);
  });

  it('slows every account when the app usage passes the threshold', () => {
    const limiter = new RateLimiter({ ratePerSecond: 100, slowdownPercent: 80, clock: () => 0 });
    limiter.noteUsage('a', {
      app: { call_count: 95, total_cputime: 10, total_time: 10 },
      businessUseCase: [],
    });
    expect(limiter.factor('a')).toBe(0.25);
    expect(limiter.factor('b')).toBe(0.25);
  });

  it('spaces sends further apart while slowed down', () => {
    const limiter = new RateLimiter({ ratePerSecond: 10, slowdownPercent: 80, clock: () => 0 });
    limiter.noteUsage('a', {
      app: { call_count: 90, total_cputime: 0, total_time: 0 },
      businessUseCase: [],
    });
    expect(limiter.reserve('a')).toBe(0);
    // Half of 10 per second: 200 ms per send.
    expect(limiter.reserve('a')).toBe(200);
  });
});
