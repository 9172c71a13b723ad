import { IgRouterError } from '../errors.js';
import { deriveEventId } from './event-id.js';
import {
  EVENT_SCHEMA_V1,
  type IgEventV1,
  type ItemField,
  itemFields,
  type Platform,
} from './event-v1.js';
import { parseJsonLossless } from './json.js';
import { metaEntryIdSchema, toEpochMs } from './meta-webhook.js';
import { type NormalizedItem, normalizeInvalidItemList, normalizeItem } from './normalize.js';

// Splits one `ig.raw` record (a webhook body) into entries and normalized events. Pure: no
// I/O, no clock, so the router can run it inside a Kafka transaction and a replay of the same
// record gives the same events.

/** The `ig.raw` record a body came from. `receivedAt` is the gateway's receive time. */
export interface RawRecordSource {
  topic: string;
  partition: number;
  offset: string;
  receivedAt: Date;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** An event before routing: the router adds `client_id` and `account_name` from the registry. */
export type UnroutedEvent = DistributiveOmit<IgEventV1, 'client_id' | 'account_name'>;

/**
 * One `entry[]` element. `entryId` is null when the entry has no usable id, which is a digit
 * string or a whole number. Such an entry gets no events, and the router writes it to
 * `ig.events.unrouted` with reason `missing_account_id`.
 */
export interface SplitEntry {
  entryIndex: number;
  entryId: string | null;
  raw: unknown;
  events: UnroutedEvent[];
}

export type SplitResult =
  | { kind: 'invalid'; reason: 'invalid_json' | 'not_meta_envelope'; error: string }
  | { kind: 'envelope'; object: string; platform: Platform; entries: SplitEntry[] };

export const SplitErrorCodes = {
  INVALID_RECORD_SOURCE: 'INVALID_RECORD_SOURCE',
} as const;

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

interface SplitContext {
  platform: Platform;
  source: RawRecordSource;
  receivedAtMs: number;
  receivedAtIso: string;
}

/**
 * Splits a webhook body into every entry and every `messaging`, `changes` and `standby` item,
 * in order. Returns `invalid` for bytes that are not UTF-8 JSON (`invalid_json`) or JSON that
 * is not an object with an `entry` array (`not_meta_envelope`).
 *
 * Never throws for any body. Throws `IgRouterError` `INVALID_RECORD_SOURCE` only when `source`
 * is invalid (an invalid Date or a non-numeric offset), which is a bug in the caller.
 */
export function splitDelivery(body: Uint8Array, source: RawRecordSource): SplitResult {
  const receivedAtMs = validateSource(source);

  let text: string;
  try {
    text = utf8Decoder.decode(body);
  } catch {
    return { kind: 'invalid', reason: 'invalid_json', error: 'body is not valid UTF-8' };
  }

  let envelope: unknown;
  try {
    envelope = parseJsonLossless(text);
  } catch (error) {
    return {
      kind: 'invalid',
      reason: 'invalid_json',
      error: error instanceof Error ? error.message : String(error),
    };
  }

  if (!isRecord(envelope) || !Array.isArray(envelope.entry)) {
    return { kind: 'invalid', reason: 'not_meta_envelope', error: describeNonEnvelope(envelope) };
  }

  const object = typeof envelope.object === 'string' ? envelope.object : '';
  const platform: Platform = object === 'page' ? 'messenger' : 'instagram';
  const context: SplitContext = {
    platform,
    source,
    receivedAtMs,
    receivedAtIso: source.receivedAt.toISOString(),
  };
  const entries = envelope.entry.map((entry, entryIndex) => splitEntry(entry, entryIndex, context));
  return { kind: 'envelope', object, platform, entries };
}

/** Adds the account fields from the registry, keeping the field order of `ig.event.v1`. */
export function routeEvent(
  event: UnroutedEvent,
  account: { client_id: string; account_name: string },
): IgEventV1 {
  const { schema, event_id, type, platform, ig_business_id, ...rest } = event;
  return {
    schema,
    event_id,
    type,
    platform,
    ig_business_id,
    client_id: account.client_id,
    account_name: account.account_name,
    ...rest,
  } as IgEventV1;
}

/** Returns `receivedAt` in epoch milliseconds after checking the source. */
function validateSource(source: RawRecordSource): number {
  const receivedAtMs = source.receivedAt instanceof Date ? source.receivedAt.getTime() : Number.NaN;
  if (Number.isNaN(receivedAtMs)) {
    throw new IgRouterError(
      SplitErrorCodes.INVALID_RECORD_SOURCE,
      'invalid record source: receivedAt must be a valid Date',
    );
  }
  if (!/^\d+$/.test(source.offset)) {
    throw new IgRouterError(
      SplitErrorCodes.INVALID_RECORD_SOURCE,
      `invalid record source: offset must be a string of digits, got "${source.offset}"`,
    );
  }
  return receivedAtMs;
}

function splitEntry(entry: unknown, entryIndex: number, context: SplitContext): SplitEntry {
  const entryId = readEntryId(entry);
  if (entryId === null || !isRecord(entry)) {
    return { entryIndex, entryId: null, raw: entry, events: [] };
  }

  // An unusable entry.time counts as absent: it belongs to the entry, not to any one item.
  const entryTimeMs = toEpochMs(entry.time);
  const events: UnroutedEvent[] = [];
  for (const field of itemFields) {
    const items = entry[field];
    if (items === undefined || items === null) continue;

    if (!Array.isArray(items)) {
      const normalized = normalizeInvalidItemList(field, items);
      events.push(
        buildEvent(
          normalized,
          items,
          { entryId, entryIndex, entryTimeMs, field, itemIndex: 0 },
          context,
        ),
      );
      continue;
    }

    for (let itemIndex = 0; itemIndex < items.length; itemIndex += 1) {
      const item: unknown = items[itemIndex];
      const normalized = normalizeItem(field, item);
      events.push(
        buildEvent(
          normalized,
          item,
          { entryId, entryIndex, entryTimeMs, field, itemIndex },
          context,
        ),
      );
    }
  }
  return { entryIndex, entryId, raw: entry, events };
}

interface ItemPosition {
  entryId: string;
  entryIndex: number;
  entryTimeMs: number | null;
  field: ItemField;
  itemIndex: number;
}

function buildEvent(
  normalized: NormalizedItem,
  item: unknown,
  position: ItemPosition,
  context: SplitContext,
): UnroutedEvent {
  const occurredAtMs = normalized.occurredAtMs ?? position.entryTimeMs ?? context.receivedAtMs;
  return {
    schema: EVENT_SCHEMA_V1,
    event_id: deriveEventId(position.entryId, normalized.type, normalized.identity),
    type: normalized.type,
    platform: context.platform,
    ig_business_id: position.entryId,
    sender_id: normalized.sender_id,
    recipient_id: normalized.recipient_id,
    occurred_at: new Date(occurredAtMs).toISOString(),
    received_at: context.receivedAtIso,
    payload: normalized.payload,
    raw: item,
    source: {
      topic: context.source.topic,
      partition: context.source.partition,
      offset: context.source.offset,
      entry_index: position.entryIndex,
      item_index: position.itemIndex,
      field: position.field,
    },
  } as UnroutedEvent;
}

function readEntryId(entry: unknown): string | null {
  if (!isRecord(entry)) return null;
  const id = metaEntryIdSchema.safeParse(entry.id);
  return id.success ? id.data : null;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describeNonEnvelope(value: unknown): string {
  if (!isRecord(value)) {
    const got = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
    return `expected a JSON object with an "entry" array, got ${got}`;
  }
  if (value.entry === undefined)
    return 'expected a JSON object with an "entry" array; "entry" is missing';
  return 'expected a JSON object with an "entry" array; "entry" is not an array';
}
