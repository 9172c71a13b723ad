import { describe, expect, it } from 'vitest';
import { parseFields } from '../src/graph-sim/onboarding.js';
import { startGraphSimulator } from '../src/graph-sim/server.js';
import { SimulatorState } from '../src/graph-sim/state.js';
import { SlidingWindow } from '../src/graph-sim/usage.js';

describe('SlidingWindow', () => {
  it('counts calls of the last second only', () => {
    const window = new SlidingWindow();
    window.record(1_000);
    window.record(1_500);
    window.record(1_999);

    expect(window.count(1_999)).toBe(3);
    expect(window.count(2_000)).toBe(2);
    expect(window.count(2_500)).toBe(1);
    expect(window.count(3_000)).toBe(0);
  });

  it('keeps counting right after compaction', () => {
    const window = new SlidingWindow();
    for (let ms = 0; ms < 5_000; ms += 1) window.record(ms);

    expect(window.count(4_999)).toBe(1_000);
    expect(window.count(5_500)).toBe(499);
  });

  it('gives the time until the count drops below the limit', () => {
    const window = new SlidingWindow();
    for (const ms of [0, 100, 200, 300]) window.record(ms);

    expect(window.msUntilBelow(3, 300)).toBe(800);
    expect(window.msUntilBelow(5, 300)).toBe(0);
  });
});

describe('parseFields', () => {
  it('parses nested selections', () => {
    expect(parseFields('id,instagram_business_account{id,username}')).toEqual([
      { name: 'id', children: [] },
      {
        name: 'instagram_business_account',
        children: [
          { name: 'id', children: [] },
          { name: 'username', children: [] },
        ],
      },
    ]);
  });

  it('gives an empty list for an empty string', () => {
    expect(parseFields('')).toEqual([]);
  });

  it.each(['a{b', 'a}', 'a{b{c}', 'a}b'])('rejects unbalanced braces in %s', (fields) => {
    expect(parseFields(fields)).toBeNull();
  });
});

describe('SimulatorState request log', () => {
  it('drops the oldest requests beyond the limit', () => {
    const state = new SimulatorState({
      rateLimitPerSecond: 100,
      requestLogLimit: 3,
      appId: '1',
      clock: () => 0,
    });
    for (let i = 0; i < 5; i += 1) {
      state.logRequest({
        ig_business_id: '1',
        recipient_id: String(i),
        body: null,
        command_id: null,
        token_fingerprint: null,
        status: 200,
        error_code: null,
        error_subcode: null,
        message_id: null,
        dropped: false,
        at: '1970-01-01T00:00:00.000Z',
      });
    }

    expect(state.requests().map((record) => record.recipient_id)).toEqual(['2', '3', '4']);
    expect(state.requestsDroppedFromLog()).toBe(2);
  });

  it('rejects a token already used by another account', () => {
    const state = new SimulatorState({
      rateLimitPerSecond: 100,
      requestLogLimit: 10,
      appId: '1',
      clock: () => 0,
    });
    state.registerAccount({ ig_business_id: '1', page_id: '11', username: 'a', token: 'same' });

    expect(() =>
      state.registerAccount({ ig_business_id: '2', page_id: '22', username: 'b', token: 'same' }),
    ).toThrowError(expect.objectContaining({ code: 'SIM_ACCOUNT_INVALID' }));
  });

  it('replaces an account registered again with a new token', () => {
    const state = new SimulatorState({
      rateLimitPerSecond: 100,
      requestLogLimit: 10,
      appId: '1',
      clock: () => 0,
    });
    state.registerAccount({ ig_business_id: '1', page_id: '11', username: 'a', token: 'old' });
    state.registerAccount({ ig_business_id: '1', page_id: '11', username: 'a', token: 'new' });

    expect(state.accountByToken('old')).toBeUndefined();
    expect(state.accountByToken('new')?.ig_business_id).toBe('1');
  });
});

describe('startGraphSimulator', () => {
  it('rejects invalid options', async () => {
    await expect(
      startGraphSimulator({ version: '21', rateLimitPerSecond: 0 }),
    ).rejects.toMatchObject({
      code: 'SIM_OPTIONS_INVALID',
    });
  });

  it('rejects versions other than the configured one', async () => {
    const sim = await startGraphSimulator({ version: 'v21.0' });
    try {
      const response = await fetch(`${sim.url}/v20.0/me`);
      const body = (await response.json()) as { error: { code: number } };

      expect(body.error.code).toBe(2500);
    } finally {
      await sim.close();
    }
  });

  it('closes with a delayed response pending', async () => {
    const sim = await startGraphSimulator({ latencyMs: 60_000 });
    const pending = fetch(`${sim.url}/v21.0/17841400000000001/messages`, { method: 'POST' }).then(
      () => 'responded',
      () => 'failed',
    );
    // Wait until the request has arrived, so close() has a delayed response to abandon.
    const deadline = Date.now() + 5_000;
    while (sim.requests().length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }

    await sim.close();

    expect(await pending).toBe('failed');
  });
});
