import type { IHeaders, KafkaMessage, Message } from 'kafkajs';
import { EVENT_SCHEMA_V1, type IgEventV1 } from './event-v1.js';
import {
  buildDlqRecord,
  buildUnroutedRecord,
  DLQ_SCHEMA_V1,
  UNROUTED_SCHEMA_V1,
  type UnroutedReason,
} from './records.js';
import type { RawRecordSource, SplitEntry } from './split.js';

// The router's Kafka records: how an `ig.raw` record is read and how its `ig.events`,
// `ig.events.unrouted` and `ig.dlq` messages are built. The router and `igr reroute` share
// them, so a rerouted event is the same record the router would have written.

/** Headers the gateway sets on `ig.raw` records that the router reads or carries forward. */
export const RawHeaders = {
  /** Gateway receive time in epoch milliseconds. */
  receivedAt: 'igr-received-at',
  requestId: 'igr-request-id',
} as const;

/**
 * Headers the router sets on its outputs, so consumers can filter without parsing values.
 * Events carry few of them on purpose: kafkajs allocates a buffer per header and record, which
 * is a large share of the producer's cost at router throughput.
 */
export const OutputHeaders = {
  schema: 'igr-schema',
  eventType: 'igr-event-type',
  clientId: 'igr-client-id',
  reason: 'igr-reason',
} as const;

/** An `ig.raw` record as consumed, with its source position for the splitter. */
export interface RawRecord {
  source: RawRecordSource;
  key: Buffer | null;
  value: Buffer;
  /** The raw record's timestamp (epoch ms string), copied to every output. */
  timestamp: string;
  headers: IHeaders;
}

/**
 * Reads a consumed `ig.raw` record. The receive time is the `igr-received-at` header when it
 * contains epoch milliseconds, else the record timestamp, which the gateway sets to the same time.
 */
export function readRawRecord(topic: string, partition: number, message: KafkaMessage): RawRecord {
  const headers = message.headers ?? {};
  const headerMs = Number(headerText(headers[RawHeaders.receivedAt]));
  const receivedAtMs =
    Number.isSafeInteger(headerMs) && headerMs > 0 ? headerMs : Number(message.timestamp);
  return {
    source: {
      topic,
      partition,
      offset: message.offset,
      receivedAt: new Date(receivedAtMs),
    },
    key: message.key,
    value: message.value ?? Buffer.alloc(0),
    timestamp: message.timestamp,
    headers,
  };
}

/** Builds the `ig.events` message of a routed event, keyed by `ig_business_id`. */
export function eventMessage(event: IgEventV1, raw: RawRecord): Message {
  return {
    key: event.ig_business_id,
    value: JSON.stringify(event),
    timestamp: raw.timestamp,
    headers: {
      [OutputHeaders.schema]: EVENT_SCHEMA_V1,
      [OutputHeaders.eventType]: event.type,
      [OutputHeaders.clientId]: event.client_id,
    },
  };
}

/** Builds the `ig.events.unrouted` message of an entry, keyed by `entry.id` (null when missing). */
export function unroutedMessage(
  entry: SplitEntry,
  reason: UnroutedReason,
  raw: RawRecord,
): Message {
  const headers: IHeaders = {
    [OutputHeaders.schema]: UNROUTED_SCHEMA_V1,
    [OutputHeaders.reason]: reason,
  };
  copyRequestId(raw, headers);
  return {
    key: entry.entryId,
    value: JSON.stringify(buildUnroutedRecord(entry, reason, raw.source)),
    timestamp: raw.timestamp,
    headers,
  };
}

/**
 * Builds the `ig.dlq` message of a raw record, keyed by the raw key. Every raw header is kept,
 * so the stored signature can still be verified against `raw_base64`.
 */
export function deadLetterMessage(
  failure: { reason: string; error: string },
  raw: RawRecord,
  options: { omitBody?: boolean } = {},
): Message {
  const headers: IHeaders = {
    ...raw.headers,
    [OutputHeaders.schema]: DLQ_SCHEMA_V1,
    [OutputHeaders.reason]: failure.reason,
  };
  return {
    key: raw.key,
    value: JSON.stringify(buildDlqRecord(raw.value, failure, raw.source, options)),
    timestamp: raw.timestamp,
    headers,
  };
}

/** Copies the gateway's request id, which ties a record to the gateway's access log. */
function copyRequestId(raw: RawRecord, headers: IHeaders): void {
  const requestId = raw.headers[RawHeaders.requestId];
  if (requestId !== undefined) headers[RawHeaders.requestId] = requestId;
}

function headerText(value: IHeaders[string]): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  if (first === undefined) return undefined;
  return typeof first === 'string' ? first : first.toString('utf8');
}
