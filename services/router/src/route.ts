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
  accounts: AccountCache,
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
    routeSplit(raw, split, accountsById, chunk);
  }
  return chunk;
}

function routeSplit(
  raw: RawRecord,
  split: SplitResult,
  accountsById: Map<string, RoutingAccount | null>,
  chunk: RoutedChunk,
): void {
  if (split.kind === 'invalid') {
    addDeadLetter(raw, { reason: split.reason, error: split.error }, chunk);
    return;
  }

  const outputsBefore = chunk.outputs.length;
  for (const entry of split.entries) {
    const account = entry.entryId === null ? undefined : accountsById.get(entry.entryId);
    const reason = unroutedReasonFor(entry.entryId, account);
    if (reason !== null) {
      chunk.outputs.push({ topic: 'unrouted', message: unroutedMessage(entry, reason, raw) });
      increment(chunk.unroutedByReason, reason);
      continue;
    }

    const routing = account as RoutingAccount;
    for (const unrouted of entry.events) {
      const event: IgEventV1 = routeEvent(unrouted, routing);
      chunk.outputs.push({ topic: 'events', message: eventMessage(event, raw) });
      increment(chunk.eventsByType, event.type);
    }
  }

  if (chunk.outputs.length === outputsBefore) {
    addDeadLetter(
      raw,
      {
        reason: NO_EVENTS_REASON,
        error: `the envelope has ${split.entries.length} entries and no messaging, changes or standby item for an active account`,
      },
      chunk,
    );
  }
}

function addDeadLetter(
  raw: RawRecord,
  failure: { reason: string; error: string },
  chunk: RoutedChunk,
) {
  chunk.outputs.push({ topic: 'dlq', message: deadLetterMessage(failure, raw) });
  chunk.deadLetters.push({ offset: raw.source.offset, ...failure });
}

function increment<K>(counts: Map<K, number>, key: K): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}
