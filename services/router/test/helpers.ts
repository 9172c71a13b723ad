import { type Database, type IgEventV1, loadConfig, parseJsonLossless } from '@ig-router/core';
import { type ConsumedRecord, serviceEnv, signedHeaders, uniqueId } from '@ig-router/testkit';
import type { IHeaders, Kafka, Producer } from 'kafkajs';
import type { Kysely } from 'kysely';
import { type RouterConfig, routerConfigSchema } from '../src/config.js';

/** App Secret the test deliveries are signed with; the router does not check signatures. */
export const TEST_APP_SECRET = 'router-test-app-secret';

export interface SeededAccount {
  ig_business_id: string;
  client_id: string;
  username: string;
}

/** Inserts a client (named after the account unless `clientName` is given) and an account. */
export async function seedAccount(
  db: Kysely<Database>,
  input: { ig_business_id: string; username?: string; clientName?: string; active?: boolean },
): Promise<SeededAccount> {
  const clientName = input.clientName ?? `client-${input.ig_business_id}`;
  const existing = await db
    .selectFrom('clients')
    .select('client_id')
    .where('name', '=', clientName)
    .executeTakeFirst();
  const client =
    existing ??
    (await db
      .insertInto('clients')
      .values({ name: clientName, api_key_hash: uniqueId('hash'), api_key_prefix: 'igr_test' })
      .returning('client_id')
      .executeTakeFirstOrThrow());
  const username = input.username ?? `account_${input.ig_business_id.slice(-6)}`;
  await db
    .insertInto('ig_accounts')
    .values({
      ig_business_id: input.ig_business_id,
      client_id: client.client_id,
      username,
      token_encrypted_key: Buffer.from('test-key'),
      token_iv: Buffer.from('test-iv'),
      token_ciphertext: Buffer.from('test-ciphertext'),
      token_auth_tag: Buffer.from('test-tag'),
      token_kms_key_id: 'alias/test',
      active: input.active ?? true,
    })
    .execute();
  return { ig_business_id: input.ig_business_id, client_id: client.client_id, username };
}

/** Router configuration for a test: its own groups, metrics server off, projector off by default. */
export function routerTestConfig(options: {
  prefix: string;
  databaseUrl: string;
  extra?: Record<string, string>;
}): RouterConfig {
  return loadConfig(routerConfigSchema, routerTestEnv(options));
}

export function routerTestEnv(options: {
  prefix: string;
  databaseUrl: string;
  extra?: Record<string, string>;
}): Record<string, string> {
  return serviceEnv({
    prefix: options.prefix,
    databaseUrl: options.databaseUrl,
    extra: {
      METRICS_PORT: '0',
      ROUTER_GROUP_ID: uniqueId('router'),
      PROJECTOR_GROUP_ID: uniqueId('projector'),
      PROJECTOR_ENABLED: 'false',
      CONSUMER_SESSION_TIMEOUT_MS: '6000',
      ROUTER_RETRY_MAX_MS: '1000',
      ...options.extra,
    },
  });
}

/** Returns the key the gateway gives an `ig.raw` record: the first `entry[].id`, or null. */
export function rawKey(body: Buffer): string | null {
  try {
    const parsed = parseJsonLossless(body.toString('utf8')) as { entry?: Array<{ id?: unknown }> };
    const id = parsed.entry?.[0]?.id;
    return typeof id === 'string' || typeof id === 'number' ? String(id) : null;
  } catch {
    return null;
  }
}

/** Headers as the gateway writes them on `ig.raw`. */
export function rawHeaders(body: Buffer, receivedAtMs: number): IHeaders {
  return {
    'x-hub-signature-256': signedHeaders(body, TEST_APP_SECRET)['x-hub-signature-256'],
    'igr-received-at': String(receivedAtMs),
    'igr-request-id': uniqueId('request'),
    'igr-app': 'default',
    'igr-gateway-instance': 'router-test',
  };
}

/**
 * Produces webhook bodies to `ig.raw` exactly as the gateway does: the exact bytes, keyed by
 * the first entry id, with the receive time as record timestamp and header. Returns the
 * partition and offset of each record, in order.
 */
export async function produceRaw(
  producer: Producer,
  topic: string,
  bodies: Array<Buffer | string>,
  receivedAtMs = Date.now(),
): Promise<Array<{ partition: number; offset: string }>> {
  const positions: Array<{ partition: number; offset: string }> = [];
  for (const item of bodies) {
    const body = typeof item === 'string' ? Buffer.from(item, 'utf8') : item;
    const [metadata] = await producer.send({
      topic,
      acks: -1,
      messages: [
        {
          key: rawKey(body),
          value: body,
          timestamp: String(receivedAtMs),
          headers: rawHeaders(body, receivedAtMs),
        },
      ],
    });
    positions.push({ partition: metadata?.partition ?? -1, offset: metadata?.baseOffset ?? '-1' });
  }
  return positions;
}

export function parseValue<T>(record: ConsumedRecord): T {
  return JSON.parse((record.value ?? Buffer.alloc(0)).toString('utf8')) as T;
}

/** Events read from `ig.events` that came from the given raw record. */
export function eventsFrom(
  records: ConsumedRecord[],
  position: { partition: number; offset: string },
): IgEventV1[] {
  return records
    .map((record) => parseValue<IgEventV1>(record))
    .filter(
      (event) =>
        event.source.partition === position.partition && event.source.offset === position.offset,
    )
    .sort(
      (a, b) =>
        a.source.entry_index - b.source.entry_index || a.source.item_index - b.source.item_index,
    );
}

export function headerText(headers: IHeaders, name: string): string | undefined {
  const value = headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  if (first === undefined) return undefined;
  return typeof first === 'string' ? first : first.toString('utf8');
}

/** A consumer that keeps reading topics from the beginning for the whole test file. */
export interface TopicCollector {
  records(topic: string): ConsumedRecord[];
  stop(): Promise<void>;
}

/** Starts a private consumer group on `topics`, reading committed records only. */
export async function collectTopics(kafka: Kafka, topics: string[]): Promise<TopicCollector> {
  const byTopic = new Map<string, ConsumedRecord[]>(topics.map((topic) => [topic, []]));
  const consumer = kafka.consumer({
    groupId: uniqueId('collector'),
    readUncommitted: false,
    sessionTimeout: 10_000,
  });
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      byTopic.get(topic)?.push({
        topic,
        partition,
        offset: message.offset,
        key: message.key ? message.key.toString('utf8') : null,
        value: message.value,
        headers: message.headers ?? {},
        timestamp: message.timestamp,
      });
    },
  });
  return {
    records: (topic) => [...(byTopic.get(topic) ?? [])],
    stop: () => consumer.disconnect(),
  };
}

/**
 * Reads every committed record of `topic` up to its current end. A partition is complete when
 * the consumer has passed its high watermark, control records included, so a duplicate cannot
 * hide behind a count that was reached early. Use it once nothing writes to the topic.
 */
export async function readCommittedToEnd(
  kafka: Kafka,
  topic: string,
  timeoutMs = 60_000,
  readUncommitted = false,
): Promise<ConsumedRecord[]> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map(
    (await admin.fetchTopicOffsets(topic)).map((entry) => [entry.partition, BigInt(entry.high)]),
  );
  await admin.disconnect();

  const records: ConsumedRecord[] = [];
  const reached = new Map<number, bigint>();
  const complete = () =>
    [...ends].every(([partition, end]) => end === 0n || (reached.get(partition) ?? 0n) >= end);
  if (complete()) return records;

  const consumer = kafka.consumer({ groupId: uniqueId('reader'), readUncommitted });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  try {
    await new Promise<void>((resolveRead, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`reading ${topic} to its end timed out after ${timeoutMs} ms`)),
        timeoutMs,
      );
      consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
        reached.set(payload.partition, BigInt(payload.lastOffset) + 1n);
        if (complete()) {
          clearTimeout(timer);
          resolveRead();
        }
      });
      consumer
        .run({
          eachMessage: async ({ partition, message }) => {
            records.push({
              topic,
              partition,
              offset: message.offset,
              key: message.key ? message.key.toString('utf8') : null,
              value: message.value,
              headers: message.headers ?? {},
              timestamp: message.timestamp,
            });
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return records;
}

/** Sum of the committed offsets of `groupId` on `topic`: records consumed, for offsets from 0. */
export async function committedRecords(
  kafka: Kafka,
  groupId: string,
  topic: string,
): Promise<bigint> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return (offsets?.partitions ?? []).reduce(
      (sum, entry) => sum + (BigInt(entry.offset) > 0n ? BigInt(entry.offset) : 0n),
      0n,
    );
  } finally {
    await admin.disconnect();
  }
}
