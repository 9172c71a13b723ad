import { z } from 'zod';
import type { RawRecordSource, SplitEntry } from './split.js';

// Values of `ig.events.unrouted` and `ig.dlq`: what the router writes when it cannot produce
// events, so every `ig.raw` record still ends in exactly one output topic.

export const UNROUTED_SCHEMA_V1 = 'ig.unrouted.v1';
export const DLQ_SCHEMA_V1 = 'ig.dlq.v1';

export const unroutedReasons = [
  'unknown_account',
  'inactive_account',
  'missing_account_id',
] as const;
export type UnroutedReason = (typeof unroutedReasons)[number];

const isoUtc = z.iso.datetime({
  error: 'expected an ISO-8601 UTC time such as 2024-05-01T12:00:00.000Z',
});

const rawRecordSourceSchema = z.object({
  topic: z.string().min(1),
  partition: z.int().nonnegative(),
  offset: z.string().regex(/^\d+$/, { error: 'expected the offset as a string of digits' }),
});

/** `ig.events.unrouted` value: one entry whose account is not routable, keyed by `entry.id`. */
export const unroutedRecordSchema = z.object({
  schema: z.literal(UNROUTED_SCHEMA_V1),
  reason: z
    .enum(unroutedReasons)
    .describe(
      'unknown_account: no account with this id in the registry. inactive_account: the account ' +
        'is deactivated. missing_account_id: the entry has no usable id.',
    ),
  entry_id: z
    .string()
    .nullable()
    .describe('entry.id as a string; null when it is missing or unusable.'),
  entry: z.unknown().describe('The entry as received (ids over 15 digits as strings).'),
  source: rawRecordSourceSchema
    .extend({ entry_index: z.int().nonnegative() })
    .describe('The ig.raw record and the index of the entry in its body.'),
  received_at: isoUtc.describe('Time the gateway received the delivery.'),
});

/** `ig.dlq` value: an `ig.raw` record that could not be split, keyed by the raw record's key. */
export const dlqRecordSchema = z.object({
  schema: z.literal(DLQ_SCHEMA_V1),
  reason: z
    .string()
    .min(1)
    .describe('invalid_json or not_meta_envelope from the splitter; the router may add others.'),
  error: z.string().describe('What failed, for operators.'),
  raw_base64: z
    .base64()
    .nullable()
    .describe(
      'The exact ig.raw value, base64-encoded; null when it would not fit in ig.dlq (read it from source).',
    ),
  source: rawRecordSourceSchema.describe('The ig.raw record.'),
  received_at: isoUtc.describe('Time the gateway received the delivery.'),
});

export type UnroutedRecord = z.infer<typeof unroutedRecordSchema>;
export type DlqRecord = z.infer<typeof dlqRecordSchema>;

/** Builds the `ig.events.unrouted` value for an entry of a split delivery. */
export function buildUnroutedRecord(
  entry: SplitEntry,
  reason: UnroutedReason,
  source: RawRecordSource,
): UnroutedRecord {
  return {
    schema: UNROUTED_SCHEMA_V1,
    reason,
    entry_id: entry.entryId,
    entry: entry.raw,
    source: {
      topic: source.topic,
      partition: source.partition,
      offset: source.offset,
      entry_index: entry.entryIndex,
    },
    received_at: source.receivedAt.toISOString(),
  };
}

/** Builds the `ig.dlq` value for a raw record that the splitter rejected or the router failed. */
export function buildDlqRecord(
  body: Uint8Array,
  failure: { reason: string; error: string },
  source: RawRecordSource,
  options: { omitBody?: boolean } = {},
): DlqRecord {
  return {
    schema: DLQ_SCHEMA_V1,
    reason: failure.reason,
    error: failure.error,
    raw_base64: options.omitBody
      ? null
      : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('base64'),
    source: { topic: source.topic, partition: source.partition, offset: source.offset },
    received_at: source.receivedAt.toISOString(),
  };
}
