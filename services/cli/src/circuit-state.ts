import { createIdempotentProducer } from '@ig-router/core';
import type { Admin, Kafka } from 'kafkajs';
import { z } from 'zod';
import { rangesToHighWatermarks, readPartitionRanges } from './kafka-read.js';

export const circuitStates = ['closed', 'open', 'half_open'] as const;

// TODO: the sender owns this format and writes it. The schema accepts unknown fields and
// nullable timestamps, so a newer sender does not break `igr circuit list`. It belongs in
// libs/core beside the send command schema.
export const circuitStateSchema = z.looseObject({
  ig_business_id: z.string().regex(/^\d+$/),
  state: z.enum(circuitStates),
  /** Reason the circuit opened, such as `auth`; null on a closed circuit. */
  reason: z.string().nullable().optional(),
  opened_at: z.string().nullable().optional(),
  retry_at: z.string().nullable().optional(),
  failures: z.number().int().nonnegative().optional(),
  cooldown_ms: z.number().int().nonnegative().nullable().optional(),
  updated_at: z.string().optional(),
});

export type CircuitState = z.infer<typeof circuitStateSchema>;

/** Reason the sender records when Graph returned code 190: the account needs a new token. */
export const AUTH_REASON = 'auth';

export interface CircuitSnapshot {
  /** The latest state of each account whose last record is not a tombstone. */
  states: Map<string, CircuitState>;
  /** Records whose value did not parse, by key, with the error. */
  invalid: Map<string, string>;
}

/**
 * Rebuilds circuit states from the compacted `ig.circuit` topic: reads every partition from
 * the beginning to the high watermark taken first, keeping the last value per key. A tombstone
 * (null value) removes the key. With `onlyKey`, other keys are skipped while reading.
 */
export async function loadCircuitStates(
  kafka: Kafka,
  admin: Admin,
  topic: string,
  options: { onlyKey?: string; signal?: AbortSignal } = {},
): Promise<CircuitSnapshot> {
  const states = new Map<string, CircuitState>();
  const invalid = new Map<string, string>();
  const ranges = await rangesToHighWatermarks(admin, topic);

  await readPartitionRanges(kafka, topic, ranges, {
    purpose: 'circuit',
    ...(options.signal ? { signal: options.signal } : {}),
    onRecord: ({ message }) => {
      const key = message.key?.toString('utf8');
      if (key === undefined) return;
      if (options.onlyKey !== undefined && key !== options.onlyKey) return;

      states.delete(key);
      invalid.delete(key);
      if (message.value === null) return;

      let json: unknown;
      try {
        json = JSON.parse(message.value.toString('utf8'));
      } catch {
        invalid.set(key, 'value is not JSON');
        return;
      }
      const parsed = circuitStateSchema.safeParse(json);
      if (parsed.success) {
        states.set(key, parsed.data);
      } else {
        invalid.set(
          key,
          parsed.error.issues
            .map((issue) => `${issue.path.join('.')}: ${issue.message}`)
            .join('; '),
        );
      }
    },
  });
  return { states, invalid };
}

/** Builds the closed state that `igr circuit reset` and `igr accounts rotate-token` write. */
export function closedCircuitState(igBusinessId: string, now = new Date()): CircuitState {
  return {
    ig_business_id: igBusinessId,
    state: 'closed',
    reason: null,
    opened_at: null,
    retry_at: null,
    failures: 0,
    cooldown_ms: 0,
    updated_at: now.toISOString(),
  };
}

/**
 * Writes a state to `ig.circuit`, keyed by `ig_business_id`, with an idempotent producer and
 * the murmur2 partitioner, so it lands on the partition the sender owns for that account.
 */
export async function writeCircuitState(
  kafka: Kafka,
  topic: string,
  state: CircuitState,
): Promise<void> {
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  try {
    await producer.send({
      topic,
      messages: [{ key: state.ig_business_id, value: JSON.stringify(state) }],
    });
  } finally {
    await producer.disconnect();
  }
}
