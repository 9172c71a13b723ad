import { z } from 'zod';

export const circuitStateNames = ['closed', 'open', 'half_open'] as const;
export type CircuitStateName = (typeof circuitStateNames)[number];

/**
 * Why a circuit opened:
 * - `auth`: code 190; stays open until the account's token is replaced.
 * - `permission`, `blocked`: permission or policy errors; open for PERMISSION_COOLDOWN_MS.
 * - `throttled`: rate-limit errors; open until Meta's regain time or an exponential backoff.
 * - `failures`: CIRCUIT_FAILURE_THRESHOLD consecutive transient failures; the cool-down doubles
 *   at every failed half-open probe.
 */
export const circuitReasons = ['auth', 'permission', 'blocked', 'throttled', 'failures'] as const;
export type CircuitReason = (typeof circuitReasons)[number];

/** Value of an `ig.circuit` record, keyed by `ig_business_id`. Times are ISO-8601 UTC. */
export const circuitStateSchema = z.object({
  ig_business_id: z.string().regex(/^\d+$/),
  state: z.enum(circuitStateNames),
  reason: z.enum(circuitReasons).nullable(),
  opened_at: z.string().nullable(),
  /** When a half-open probe may be sent; null while an `auth` circuit waits for a new token. */
  retry_at: z.string().nullable(),
  /** Consecutive failures counted toward the current state. */
  failures: z.number().int().nonnegative(),
  cooldown_ms: z.number().int().nonnegative(),
  updated_at: z.string(),
});

export type CircuitState = z.infer<typeof circuitStateSchema>;

export interface CircuitPolicy {
  failureThreshold: number;
  cooldownMs: number;
  maxCooldownMs: number;
  permissionCooldownMs: number;
  throttleBackoffMs: number;
  /** Source of jitter in [0, 1); tests pass a constant. */
  random: () => number;
}

/**
 * Input to the circuit from a Graph call, a timer or an operator. `healthy` is any response
 * that proves the account can send: success, or an error about the recipient or the message.
 */
export type CircuitEvent =
  | { type: 'healthy' }
  | { type: 'transient_failure' }
  | { type: 'throttled'; regainAccessMs?: number | undefined }
  | { type: 'auth' }
  | { type: 'permission' }
  | { type: 'blocked' }
  | { type: 'cooldown_elapsed' }
  | { type: 'token_replaced' }
  | { type: 'reset' };

/** A stronger reason is never replaced by a weaker one while the circuit is open. */
const reasonRank: Record<CircuitReason, number> = {
  failures: 0,
  throttled: 1,
  permission: 2,
  blocked: 2,
  auth: 3,
};

export function closedCircuit(igBusinessId: string, now: number): CircuitState {
  return {
    ig_business_id: igBusinessId,
    state: 'closed',
    reason: null,
    opened_at: null,
    retry_at: null,
    failures: 0,
    cooldown_ms: 0,
    updated_at: new Date(now).toISOString(),
  };
}

/** Returns whether two states differ in what is written to `ig.circuit` (anything but the counters). */
export function isStateChange(before: CircuitState, after: CircuitState): boolean {
  return (
    before.state !== after.state ||
    before.reason !== after.reason ||
    before.retry_at !== after.retry_at ||
    before.cooldown_ms !== after.cooldown_ms
  );
}

/** Returns the time a half-open probe may be sent, in ms, or undefined when none is scheduled. */
export function retryAt(state: CircuitState): number | undefined {
  return state.retry_at === null ? undefined : Date.parse(state.retry_at);
}

/** Adds up to ±20 % of jitter, so accounts that failed together do not all retry together. */
function withJitter(ms: number, policy: CircuitPolicy): number {
  return Math.round(ms * (0.8 + 0.4 * policy.random()));
}

function open(
  current: CircuitState,
  reason: CircuitReason,
  cooldownMs: number,
  now: number,
  failures: number,
  retryAtMs: number | null,
): CircuitState {
  return {
    ig_business_id: current.ig_business_id,
    state: 'open',
    reason,
    opened_at:
      current.state === 'closed' || current.opened_at === null
        ? new Date(now).toISOString()
        : current.opened_at,
    retry_at: retryAtMs === null ? null : new Date(retryAtMs).toISOString(),
    failures,
    cooldown_ms: cooldownMs,
    updated_at: new Date(now).toISOString(),
  };
}

function outranked(current: CircuitState, reason: CircuitReason): boolean {
  return (
    current.state !== 'closed' &&
    current.reason !== null &&
    reasonRank[current.reason] > reasonRank[reason]
  );
}

/**
 * Returns the state after `event`. Returns `current` itself when nothing changes, so callers
 * can compare by reference. A changed failure counter alone returns a new object, which
 * `isStateChange` reports as no change.
 */
export function nextCircuitState(
  current: CircuitState,
  event: CircuitEvent,
  now: number,
  policy: CircuitPolicy,
): CircuitState {
  const stamp = new Date(now).toISOString();
  switch (event.type) {
    case 'healthy': {
      if (current.state === 'half_open') return closedCircuit(current.ig_business_id, now);
      if (current.state === 'closed' && current.failures > 0) {
        return { ...current, failures: 0, updated_at: stamp };
      }
      // A call that started before the circuit opened proves nothing about the open reason.
      return current;
    }

    case 'transient_failure': {
      const failures = current.failures + 1;
      if (current.state === 'open') return { ...current, failures, updated_at: stamp };
      if (current.state === 'half_open') {
        const cooldown = Math.min(
          Math.max(current.cooldown_ms, policy.cooldownMs) * 2,
          policy.maxCooldownMs,
        );
        return open(
          current,
          'failures',
          cooldown,
          now,
          failures,
          now + withJitter(cooldown, policy),
        );
      }
      if (failures < policy.failureThreshold) return { ...current, failures, updated_at: stamp };
      const cooldown = Math.min(policy.cooldownMs, policy.maxCooldownMs);
      return open(current, 'failures', cooldown, now, failures, now + withJitter(cooldown, policy));
    }

    case 'throttled': {
      if (outranked(current, 'throttled')) return current;
      const failures = current.reason === 'throttled' ? current.failures + 1 : 1;
      let cooldown: number;
      let until: number;
      if (event.regainAccessMs !== undefined && event.regainAccessMs > 0) {
        cooldown = event.regainAccessMs;
        // Calls made while throttled extend Meta's block, so the probe waits a little longer.
        until = now + Math.round(cooldown * (1 + 0.1 * policy.random()));
      } else {
        cooldown = Math.min(policy.throttleBackoffMs * 2 ** (failures - 1), policy.maxCooldownMs);
        until = now + withJitter(cooldown, policy);
      }
      const currentRetryAt = retryAt(current);
      if (current.state === 'open' && currentRetryAt !== undefined && currentRetryAt >= until) {
        return current;
      }
      return open(current, 'throttled', cooldown, now, failures, until);
    }

    case 'auth': {
      if (current.state === 'open' && current.reason === 'auth') return current;
      return open(current, 'auth', 0, now, current.failures + 1, null);
    }

    case 'permission':
    case 'blocked': {
      if (outranked(current, event.type)) return current;
      if (current.state === 'open' && current.reason === event.type) return current;
      const cooldown = policy.permissionCooldownMs;
      return open(current, event.type, cooldown, now, current.failures + 1, now + cooldown);
    }

    case 'cooldown_elapsed': {
      const at = retryAt(current);
      if (current.state !== 'open' || at === undefined || at > now) return current;
      return { ...current, state: 'half_open', updated_at: stamp };
    }

    case 'token_replaced': {
      if (current.state === 'closed') return current;
      if (current.reason !== 'auth' && current.reason !== 'permission') return current;
      if (current.state === 'half_open') return current;
      return { ...current, state: 'half_open', updated_at: stamp };
    }

    case 'reset': {
      if (current.state === 'closed' && current.failures === 0) return current;
      return closedCircuit(current.ig_business_id, now);
    }
  }
}
