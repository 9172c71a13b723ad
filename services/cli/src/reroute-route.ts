import {
  eventMessage,
  type IgEventV1,
  parseJsonLossless,
  type RawRecord,
  type RoutingAccount,
  routeEvent,
  splitDelivery,
  type UnroutedReason,
  type UnroutedRecord,
  unroutedReasonFor,
  unroutedRecordSchema,
} from '@ig-router/core';
import type { KafkaMessage, Message } from 'kafkajs';

// The routing decisions of `igr reroute`. They follow the router's route step: split with
// `splitDelivery`, decide with `unroutedReasonFor`, add the account with `routeEvent` and build
// the record with `eventMessage`, all from `@ig-router/core`. Unlike the router, reroute writes
// only events. Entries that are still unroutable and records the router sends to `ig.dlq` are
// returned for counting, because their `ig.events.unrouted` and `ig.dlq` records already exist.

/** Reason the router gives a valid envelope that yields no output; see the router's route step. */
const NO_EVENTS_REASON = 'no_events';

/** An event to write, with the record the router would have written for it. */
export interface ReroutedEvent {
  event: IgEventV1;
  message: Message;
}

/** An entry that is still not routable with the current accounts. */
export interface StillUnrouted {
  entryId: string | null;
  reason: UnroutedReason;
}

/** An `ig.raw` record that the router writes to `ig.dlq`; reroute skips it. */
export interface SkippedDeadLetter {
  partition: number;
  offset: string;
  reason: string;
}

export interface RawRouting {
  events: ReroutedEvent[];
  stillUnrouted: StillUnrouted[];
  deadLetters: SkippedDeadLetter[];
}

export type SplitRawRecord = { raw: RawRecord; split: ReturnType<typeof splitDelivery> };

/** Splits raw records, as the router does before it looks up the accounts. */
export function splitRawRecords(records: RawRecord[]): SplitRawRecord[] {
  return records.map((raw) => ({ raw, split: splitDelivery(raw.value, raw.source) }));
}

/** Collects the entry ids of split records, for one account lookup. */
export function entryIdsOf(splits: SplitRawRecord[]): Set<string> {
  const ids = new Set<string>();
  for (const { split } of splits) {
    if (split.kind !== 'envelope') continue;
    for (const entry of split.entries) {
      if (entry.entryId !== null) ids.add(entry.entryId);
    }
  }
  return ids;
}

/**
 * Routes split `ig.raw` records with the given accounts. With `account`, only entries whose
 * `entry.id` is that account are routed or counted. Dead letters are records the router
 * sends to `ig.dlq`: a body that is not a Meta envelope, or an envelope that yields no event
 * and no unrouted entry. They are counted whatever `account` is.
 */
export function routeRawRecords(
  splits: SplitRawRecord[],
  accountsById: ReadonlyMap<string, RoutingAccount>,
  account?: string,
): RawRouting {
  const routing: RawRouting = { events: [], stillUnrouted: [], deadLetters: [] };
  for (const { raw, split } of splits) {
    const { partition, offset } = raw.source;
    if (split.kind === 'invalid') {
      routing.deadLetters.push({ partition, offset, reason: split.reason });
      continue;
    }

    let outputs = 0;
    for (const entry of split.entries) {
      const routingAccount = entry.entryId === null ? undefined : accountsById.get(entry.entryId);
      const reason = unroutedReasonFor(entry.entryId, routingAccount);
      outputs += reason === null ? entry.events.length : 1;
      if (account !== undefined && entry.entryId !== account) continue;

      if (reason !== null) {
        routing.stillUnrouted.push({ entryId: entry.entryId, reason });
        continue;
      }
      for (const unrouted of entry.events) {
        const event = routeEvent(unrouted, routingAccount as RoutingAccount);
        routing.events.push({ event, message: eventMessage(event, raw) });
      }
    }
    if (outputs === 0) routing.deadLetters.push({ partition, offset, reason: NO_EVENTS_REASON });
  }
  return routing;
}

/** An `ig.events.unrouted` record after parsing. */
export type ParsedUnrouted =
  | { kind: 'valid'; record: UnroutedRecord; timestamp: string }
  | { kind: 'invalid'; error: string };

/** Parses an `ig.events.unrouted` value with the `ig.unrouted.v1` schema. */
export function parseUnroutedMessage(message: KafkaMessage): ParsedUnrouted {
  if (message.value === null) return { kind: 'invalid', error: 'the record has no value' };
  let value: unknown;
  try {
    value = parseJsonLossless(message.value.toString('utf8'));
  } catch (err) {
    return { kind: 'invalid', error: err instanceof Error ? err.message : String(err) };
  }
  const parsed = unroutedRecordSchema.safeParse(value);
  if (!parsed.success) return { kind: 'invalid', error: parsed.error.message };
  return { kind: 'valid', record: parsed.data, timestamp: message.timestamp };
}

/**
 * Routes one entry of `ig.events.unrouted` from its stored `entry`, without the `ig.raw`
 * record, which may be past its retention. The entry is split in an envelope of its own, so
 * the events get the same `event_id` as from the full delivery, and `source` is set to the
 * original `ig.raw` record and entry index.
 */
export function routeUnroutedRecord(
  parsed: { record: UnroutedRecord; timestamp: string },
  accountsById: ReadonlyMap<string, RoutingAccount>,
): { events: ReroutedEvent[] } | StillUnrouted {
  const { record, timestamp } = parsed;
  const entryId = record.entry_id;
  const account = entryId === null ? undefined : accountsById.get(entryId);
  const reason = unroutedReasonFor(entryId, account);
  if (reason !== null) return { entryId, reason };

  // TODO: the unrouted record does not keep the delivery's `object`, so the events get
  // platform `instagram`. Accounts are looked up by Instagram account id, so an entry with an
  // active account comes from an `instagram` delivery unless a Page id is stored as an account.
  const body = Buffer.from(JSON.stringify({ object: 'instagram', entry: [record.entry] }));
  const raw: RawRecord = {
    source: {
      topic: record.source.topic,
      partition: record.source.partition,
      offset: record.source.offset,
      receivedAt: new Date(record.received_at),
    },
    key: null,
    value: body,
    timestamp,
    headers: {},
  };
  const split = splitDelivery(raw.value, raw.source);
  const entry = split.kind === 'envelope' ? split.entries[0] : undefined;
  if (!entry || entry.entryId !== entryId) {
    // The schema accepted the record, so its entry should split to the same id.
    return { entryId, reason: 'missing_account_id' };
  }

  const events: ReroutedEvent[] = [];
  for (const unrouted of entry.events) {
    const event = routeEvent(
      { ...unrouted, source: { ...unrouted.source, entry_index: record.source.entry_index } },
      account as RoutingAccount,
    );
    events.push({ event, message: eventMessage(event, raw) });
  }
  return { events };
}
