import { createHash } from 'node:crypto';

/**
 * Namespace of every `event_id`. Changing it changes the id of every event, which breaks
 * deduplication across a replay, so it is fixed for `ig.event.v1`.
 */
export const EVENT_ID_NAMESPACE = '4d1f7c5e-3b8a-5f2e-9c61-0a7e2b9d4f13';

const NAMESPACE_BYTES = Buffer.from(EVENT_ID_NAMESPACE.replaceAll('-', ''), 'hex');

/** Formats a UUID version 5 (RFC 9562): SHA-1 of the namespace bytes and the UTF-8 name. */
export function uuidV5(name: string, namespace: Buffer = NAMESPACE_BYTES): string {
  const hash = createHash('sha1').update(namespace).update(name, 'utf8').digest();
  hash[6] = ((hash[6] as number) & 0x0f) | 0x50;
  hash[8] = ((hash[8] as number) & 0x3f) | 0x80;

  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Derives the `event_id` of an item from the account, the event type and the parts that
 * identify the item (its `mid`, or its canonical JSON). Kafka offsets and receive times are
 * never part of it, so a Meta retry or a replay gives the same id.
 */
export function deriveEventId(
  igBusinessId: string,
  type: string,
  identity: readonly unknown[],
): string {
  return uuidV5(JSON.stringify([igBusinessId, type, ...identity]));
}

/**
 * Serializes a parsed JSON value with object keys sorted, so two deliveries of the same item
 * give the same text whatever the key order. Recursion depth equals the nesting depth, which
 * `parseJsonLossless` bounds.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    return JSON.stringify(value) ?? 'null';
  }

  if (Array.isArray(value)) {
    return `[${value.map((element) => canonicalJson(element)).join(',')}]`;
  }

  const record = value as Record<string, unknown>;
  const members: string[] = [];
  for (const key of Object.keys(record).sort()) {
    if (record[key] === undefined) continue;
    members.push(`${JSON.stringify(key)}:${canonicalJson(record[key])}`);
  }
  return `{${members.join(',')}}`;
}
