import { captureLogger } from '@ig-router/testkit';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type Rejection, RejectionLog } from '../src/rejections.js';

const rejection = (reason: string, app: string): Rejection => ({
  reason,
  app,
  status: 403,
  remoteAddress: '127.0.0.1',
  requestId: 'req-1',
});

describe('RejectionLog', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date('2026-01-01T00:00:00Z'));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('limits lines per reason and app', () => {
    const capture = captureLogger('gateway');
    const log = new RejectionLog(capture.logger, 10_000);

    for (let i = 0; i < 4; i++) log.record(rejection('mismatch', 'default'));
    log.record(rejection('mismatch', 'brand-a'));
    log.record(rejection('missing', 'default'));
    vi.advanceTimersByTime(10_000);
    log.record(rejection('mismatch', 'default'));

    const lines = capture.records().map((line) => [line.reason, line.app, line.suppressed]);
    expect(lines).toEqual([
      ['mismatch', 'default', 0],
      ['mismatch', 'brand-a', 0],
      ['missing', 'default', 0],
      ['mismatch', 'default', 3],
    ]);
  });

  it('logs the suppressed counts on flush', () => {
    const capture = captureLogger('gateway');
    const log = new RejectionLog(capture.logger, 10_000);
    log.record(rejection('kafka_unavailable', 'default'));
    log.record(rejection('kafka_unavailable', 'default'));
    log.record(rejection('kafka_unavailable', 'default'));
    log.flush();
    log.flush();

    const last = capture.records().at(-1);
    expect(capture.records()).toHaveLength(2);
    expect(last).toMatchObject({ reason: 'kafka_unavailable', app: 'default', suppressed: 2 });
  });
});
