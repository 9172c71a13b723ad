import { describe, expect, it } from 'vitest';
import {
  type CircuitEvent,
  type CircuitPolicy,
  type CircuitState,
  circuitStateSchema,
  closedCircuit,
  isStateChange,
  nextCircuitState,
} from '../src/circuit.js';

const policy: CircuitPolicy = {
  failureThreshold: 3,
  cooldownMs: 1_000,
  maxCooldownMs: 8_000,
  permissionCooldownMs: 60_000,
  throttleBackoffMs: 500,
  // 0.5 gives a jitter factor of exactly 1.
  random: () => 0.5,
};
const ID = '17841400000000001';
const T0 = Date.parse('2025-01-01T00:00:00Z');

function run(events: CircuitEvent[], start = closedCircuit(ID, T0), now = T0): CircuitState {
  let state = start;
  for (const event of events) state = nextCircuitState(state, event, now, policy);
  return state;
}

describe('circuit state machine', () => {
  it('opens after the threshold of consecutive transient failures', () => {
    const below = run([{ type: 'transient_failure' }, { type: 'transient_failure' }]);
    expect(below.state).toBe('closed');
    expect(below.failures).toBe(2);

    const opened = nextCircuitState(below, { type: 'transient_failure' }, T0, policy);
    expect(opened.state).toBe('open');
    expect(opened.reason).toBe('failures');
    expect(opened.failures).toBe(3);
    expect(opened.cooldown_ms).toBe(1_000);
    expect(opened.opened_at).toBe('2025-01-01T00:00:00.000Z');
    expect(opened.retry_at).toBe('2025-01-01T00:00:01.000Z');
  });

  it('resets the failure count on a healthy answer', () => {
    const state = run([
      { type: 'transient_failure' },
      { type: 'transient_failure' },
      { type: 'healthy' },
      { type: 'transient_failure' },
    ]);
    expect(state.state).toBe('closed');
    expect(state.failures).toBe(1);
  });

  it('turns half-open only after the cool-down', () => {
    const opened = run([
      { type: 'transient_failure' },
      { type: 'transient_failure' },
      { type: 'transient_failure' },
    ]);
    expect(nextCircuitState(opened, { type: 'cooldown_elapsed' }, T0 + 999, policy)).toBe(opened);
    const halfOpen = nextCircuitState(opened, { type: 'cooldown_elapsed' }, T0 + 1_000, policy);
    expect(halfOpen.state).toBe('half_open');
    expect(halfOpen.reason).toBe('failures');
  });

  it('closes when the half-open probe succeeds', () => {
    const halfOpen: CircuitState = {
      ...closedCircuit(ID, T0),
      state: 'half_open',
      reason: 'failures',
      failures: 3,
      cooldown_ms: 1_000,
    };
    const closed = nextCircuitState(halfOpen, { type: 'healthy' }, T0, policy);
    expect(closed).toEqual(closedCircuit(ID, T0));
  });

  it('doubles the cool-down at every failed probe up to the maximum', () => {
    let state = run([
      { type: 'transient_failure' },
      { type: 'transient_failure' },
      { type: 'transient_failure' },
    ]);
    const cooldowns: number[] = [state.cooldown_ms];
    for (let i = 0; i < 5; i += 1) {
      state = { ...state, state: 'half_open' };
      state = nextCircuitState(state, { type: 'transient_failure' }, T0, policy);
      expect(state.state).toBe('open');
      cooldowns.push(state.cooldown_ms);
    }
    expect(cooldowns).toEqual([1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
  });

  it('opens for auth errors without a retry time', () => {
    const state = run([{ type: 'auth' }]);
    expect(state.state).toBe('open');
    expect(state.reason).toBe('auth');
    expect(state.retry_at).toBeNull();
    expect(nextCircuitState(state, { type: 'cooldown_elapsed' }, T0 + 10 ** 9, policy)).toBe(state);
  });

  it('probes an auth circuit when the token is replaced', () => {
    const state = nextCircuitState(run([{ type: 'auth' }]), { type: 'token_replaced' }, T0, policy);
    expect(state.state).toBe('half_open');
    expect(state.reason).toBe('auth');
    expect(nextCircuitState(state, { type: 'auth' }, T0, policy).state).toBe('open');
  });

  it('ignores a token change for circuits opened by failures', () => {
    const opened = run([
      { type: 'transient_failure' },
      { type: 'transient_failure' },
      { type: 'transient_failure' },
    ]);
    expect(nextCircuitState(opened, { type: 'token_replaced' }, T0, policy)).toBe(opened);
  });

  it('opens for permission and policy errors for the long cool-down', () => {
    for (const type of ['permission', 'blocked'] as const) {
      const state = run([{ type }]);
      expect(state.state).toBe('open');
      expect(state.reason).toBe(type);
      expect(state.cooldown_ms).toBe(60_000);
      expect(state.retry_at).toBe(new Date(T0 + 60_000).toISOString());
    }
  });

  it('waits the regain time Meta gives after a throttle', () => {
    const state = run([{ type: 'throttled', regainAccessMs: 120_000 }]);
    expect(state.state).toBe('open');
    expect(state.reason).toBe('throttled');
    expect(state.cooldown_ms).toBe(120_000);
    // Up to 10 % extra, 5 % with this policy's random value.
    expect(state.retry_at).toBe(new Date(T0 + 126_000).toISOString());
  });

  it('backs off exponentially on throttles without a regain time', () => {
    let state = run([{ type: 'throttled' }]);
    const cooldowns = [state.cooldown_ms];
    for (let i = 0; i < 5; i += 1) {
      state = nextCircuitState({ ...state, state: 'half_open' }, { type: 'throttled' }, T0, policy);
      cooldowns.push(state.cooldown_ms);
    }
    expect(cooldowns).toEqual([500, 1_000, 2_000, 4_000, 8_000, 8_000]);
  });

  it('keeps a stronger reason when a weaker error arrives', () => {
    const auth = run([{ type: 'auth' }]);
    expect(nextCircuitState(auth, { type: 'throttled' }, T0, policy)).toBe(auth);
    expect(nextCircuitState(auth, { type: 'permission' }, T0, policy)).toBe(auth);
    const permission = run([{ type: 'permission' }]);
    expect(nextCircuitState(permission, { type: 'throttled' }, T0, policy)).toBe(permission);
    expect(nextCircuitState(permission, { type: 'auth' }, T0, policy).reason).toBe('auth');
  });

  it('ignores a late healthy answer while open', () => {
    const auth = run([{ type: 'auth' }]);
    expect(nextCircuitState(auth, { type: 'healthy' }, T0, policy)).toBe(auth);
  });

  it('closes on an operator reset', () => {
    const state = nextCircuitState(run([{ type: 'auth' }]), { type: 'reset' }, T0, policy);
    expect(state.state).toBe('closed');
    expect(state.reason).toBeNull();
  });

  it('applies jitter to the cool-down', () => {
    const low = { ...policy, random: () => 0 };
    const high = { ...policy, random: () => 0.999 };
    const events: CircuitEvent[] = [
      { type: 'transient_failure' },
      { type: 'transient_failure' },
      { type: 'transient_failure' },
    ];
    let lowState = closedCircuit(ID, T0);
    let highState = closedCircuit(ID, T0);
    for (const event of events) {
      lowState = nextCircuitState(lowState, event, T0, low);
      highState = nextCircuitState(highState, event, T0, high);
    }
    expect(Date.parse(lowState.retry_at ?? '') - T0).toBe(800);
    expect(Date.parse(highState.retry_at ?? '') - T0).toBe(1_200);
  });

  it('reports counter-only changes as no state change', () => {
    const before = closedCircuit(ID, T0);
    const after = nextCircuitState(before, { type: 'transient_failure' }, T0, policy);
    expect(after).not.toBe(before);
    expect(isStateChange(before, after)).toBe(false);
    expect(isStateChange(before, run([{ type: 'auth' }]))).toBe(true);
  });

  it('produces states that match the ig.circuit schema', () => {
    for (const state of [
      closedCircuit(ID, T0),
      run([{ type: 'auth' }]),
      run([{ type: 'throttled', regainAccessMs: 60_000 }]),
      run([{ type: 'permission' }]),
    ]) {
      expect(circuitStateSchema.parse(state)).toEqual(state);
      expect(Object.keys(state).sort()).toEqual([
        'cooldown_ms',
        'failures',
        'ig_business_id',
        'opened_at',
        'reason',
        'retry_at',
        'state',
        'updated_at',
      ]);
    }
  });
});
