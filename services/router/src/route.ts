import {
  deadLetterMessage,
  eventMessage,
  type IgEventV1,
  type RawRecord,
  type RoutingAccount,
  routeEvent,
  type SplitResult,
  splitDelivery,
  type TopicKey,
  type UnroutedReason,
  unroutedMessage,
  unroutedReasonFor,
} from '@ig-router/core';
import type { Message } from 'kafkajs';
import type { AccountCache } from './account-cache.js';

/** Reason written to `ig.dlq` for a valid envelope that contains no item and no entry to keep. */
export const NO_EVENTS_REASON = 'no_events';

/** Reason written to `ig.dlq` for a record whose event or unrouted output exceeds its topic. */
export const OUTPUT_TOO_LARGE_REASON = 'output_too_large';

/**
 * Bytes a record batch of one message needs beyond its key, value and headers (batch header,
 * record framing and header names), rounded up so the estimate errs towards the dead letter.
 */
const BATCH_OVERHEAD_BYTES = 1024;

/** Largest message each output topic takes (its `max.message.bytes`); absent means no check. */
export type OutputLimits = Partial<Record<OutputTopic, number>>;

export type OutputTopic = Extract<TopicKey, 'events' | 'unrouted' | 'dlq'>;

/** A message for one of the router's output topics. */
export interface RoutedOutput {
  topic: OutputTopic;
  message: Message;
}

/** A record written to `ig.dlq`, kept for the log line written after the commit. */
export interface DeadLetter {
  offset: string;
  reason: string;
  error: string;
}

/** The outputs of a run of `ig.raw` records, in record order, with counts for the metrics. */
export interface RoutedChunk {
  outputs: RoutedOutput[];
  eventsByType: Map<string, number>;
  unroutedByReason: Map<UnroutedReason, number>;
  deadLetters: DeadLetter[];
}

/**
 * Splits each record and routes every entry by its account:
 * - active account: one `ig.events` message per item, with `client_id` and `account_name`;
 * - unknown or inactive account, or no usable `entry.id`: the entry to `ig.events.unrouted`;
 * - a body that is not JSON or not a Meta envelope, or one that yields no output at all: the
 *   record to `ig.dlq`.
 *
 * Every record yields at least one output. Raises `AccountLookupError` when PostgreSQL cannot
 * be reached, so the caller retries the records instead of sending them to unrouted.
 */
export async function routeRecords(
  records: RawRecord[],
  accounts: Pick<AccountCache, 'lookup'>,
  limits: OutputLimits = {},
): Promise<RoutedChunk> {
  const splits = records.map((raw) => ({ raw, split: splitDelivery(raw.value, raw.source) }));

  const entryIds = new Set<string>();
  for (const { split } of splits) {
    if (split.kind !== 'envelope') continue;
    for (const entry of split.entries) {
      if (entry.entryId !== null) entryIds.add(entry.entryId);
    }
  }
  const accountsById = await accounts.lookup(entryIds);

  const chunk: RoutedChunk = {
    outputs: [],
    eventsByType: new Map(),
    unroutedByReason: new Map(),
    deadLetters: [],
  };
  for (const { raw, split } of splits) {
    routeSplit(raw, split, accountsById, chunk, limits);
  }
  return chunk;
}

function routeSplit(
  raw: RawRecord,
  split: SplitResult,
  accountsById: Map<string, RoutingAccount | null>,
  chunk: RoutedChunk,
  limits: OutputLimits,
): void {
  if (split.kind === 'invalid') {
    addDeadLetter(raw, { reason: split.reason, error: split.error }, chunk, limits);
    return;
  }

  const outputsBefore = chunk.outputs.length;
  const eventsByType = new Map<string, number>();
  const unroutedByReason = new Map<UnroutedReason, number>();
  for (const entry of split.entries) {
    const account = entry.entryId === null ? undefined : accountsById.get(entry.entryId);
    const reason = unroutedReasonFor(entry.entryId, account);
    if (reason !== null) {
      chunk.outputs.push({ topic: 'unrouted', message: unroutedMessage(entry, reason, raw) });
      increment(unroutedByReason, reason);
      continue;
    }

    const routing = account as RoutingAccount;
    for (const unrouted of entry.events) {
      const event: IgEventV1 = routeEvent(unrouted, routing);
      chunk.outputs.push({ topic: 'events', message: eventMessage(event, raw) });
      increment(eventsByType, event.type);
    }
  }

  // An output above its topic's limit would be retried forever and stop the partition, so the
  // whole record goes to ig.dlq instead, and its items stay together in one place.
  const oversized = chunk.outputs
    .slice(outputsBefore)
    .find((output) => exceedsLimit(output, limits));
  if (oversized) {
    chunk.outputs.length = outputsBefore;
    const bytes = messageBytes(oversized.message);
    addDeadLetter(
      raw,
      {
        reason: OUTPUT_TOO_LARGE_REASON,
        error: `an ${oversized.topic} message of about ${bytes} bytes exceeds the topic's max.message.bytes of ${limits[oversized.topic]}`,
      },
      chunk,
      limits,
    );
    return;
  }
  mergeCounts(chunk.eventsByType, eventsByType);
  mergeCounts(chunk.unroutedByReason, unroutedByReason);

  if (chunk.outputs.length === outputsBefore) {
    addDeadLetter(
      raw,
      {
        reason: NO_EVENTS_REASON,
        error: `the envelope has ${split.entries.length} entries and no messaging, changes or standby item for an active account`,
      },
      chunk,
      limits,
    );
  }
}

/**
 * Adds the record's dead letter. When the body in base64 would not fit in ig.dlq, the dead
 * letter carries no body (`raw_base64: null`); `source` still points at the ig.raw record.
 */
function addDeadLetter(
  raw: RawRecord,
  failure: { reason: string; error: string },
  chunk: RoutedChunk,
  limits: OutputLimits,
) {
  let output: RoutedOutput = { topic: 'dlq', message: deadLetterMessage(failure, raw) };
  if (exceedsLimit(output, limits)) {
    output = { topic: 'dlq', message: deadLetterMessage(failure, raw, { omitBody: true }) };
  }
  chunk.outputs.push(output);
  chunk.deadLetters.push({ offset: raw.source.offset, ...failure });
}

/** Estimated bytes of a one-message record batch: key, value, headers and framing. */
export function messageBytes(message: Message): number {
  const size = (value: unknown): number => {
    if (value === null || value === undefined) return 0;
    if (Buffer.isBuffer(value)) return value.byteLength;
    if (Array.isArray(value)) return value.reduce((sum: number, item) => sum + size(item), 0);
    return Buffer.byteLength(String(value));
  };
  let bytes = BATCH_OVERHEAD_BYTES + size(message.key) + size(message.value);
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    bytes += Buffer.byteLength(name) + size(value);
  }
  return bytes;
}

function exceedsLimit(output: RoutedOutput, limits: OutputLimits): boolean {
  const limit = limits[output.topic];
  return limit !== undefined && messageBytes(output.message) > limit;
}

function mergeCounts<K>(into: Map<K, number>, from: Map<K, number>): void {
  for (const [key, count] of from) into.set(key, (into.get(key) ?? 0) + count);
}

function increment<K>(counts: Map<K, number>, key: K): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}
