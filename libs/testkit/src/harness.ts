import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import {
  applyTopics,
  createDatabase,
  createKafka,
  createLogger,
  type DatabaseHandle,
  environmentWithStack,
  type Logger,
  migrateUp,
  type TopicKey,
  topicCatalogue,
  topicNames,
} from '@ig-router/core';
import type { Admin, Consumer, IHeaders, Kafka } from 'kafkajs';
import pg from 'pg';

/** Endpoints of the test stack, as set by the vitest global setup or `.stack/env`. */
export interface TestEnv {
  KAFKA_BROKERS: string;
  DATABASE_URL: string;
  AWS_REGION: string;
  AWS_ENDPOINT_URL_KMS?: string | undefined;
  KMS_KEY_ID: string;
}

export function testEnv(): TestEnv {
  const env = environmentWithStack();
  const missing = ['KAFKA_BROKERS', 'DATABASE_URL', 'KMS_KEY_ID'].filter((key) => !env[key]);
  if (missing.length > 0) {
    throw new Error(
      `Test stack variables missing: ${missing.join(', ')}. Run the tests with vitest (its global setup starts the stack) or run npm run stack:up first.`,
    );
  }
  if (env.AWS_ACCESS_KEY_ID && !process.env.AWS_ACCESS_KEY_ID) {
    process.env.AWS_ACCESS_KEY_ID = env.AWS_ACCESS_KEY_ID;
    process.env.AWS_SECRET_ACCESS_KEY = env.AWS_SECRET_ACCESS_KEY;
  }
  return {
    KAFKA_BROKERS: env.KAFKA_BROKERS as string,
    DATABASE_URL: env.DATABASE_URL as string,
    AWS_REGION: env.AWS_REGION ?? 'eu-west-2',
    AWS_ENDPOINT_URL_KMS: env.AWS_ENDPOINT_URL_KMS,
    KMS_KEY_ID: env.KMS_KEY_ID as string,
  };
}

/** A short random id for names that must not collide between test files and runs. */
export function uniqueId(label: string): string {
  return `${label.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}-${randomBytes(4).toString('hex')}`;
}

/** Environment variables a service under test needs, for a given topic prefix and database. */
export function serviceEnv(options: {
  prefix: string;
  databaseUrl?: string;
  extra?: Record<string, string>;
}): Record<string, string> {
  const env = testEnv();
  const values: Record<string, string> = {
    KAFKA_BROKERS: env.KAFKA_BROKERS,
    DATABASE_URL: options.databaseUrl ?? env.DATABASE_URL,
    AWS_REGION: env.AWS_REGION,
    KMS_KEY_ID: env.KMS_KEY_ID,
    TOPIC_PREFIX: options.prefix,
    LOG_LEVEL: 'info',
    ...(env.AWS_ENDPOINT_URL_KMS ? { AWS_ENDPOINT_URL_KMS: env.AWS_ENDPOINT_URL_KMS } : {}),
    ...(process.env.AWS_ACCESS_KEY_ID ? { AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID } : {}),
    ...(process.env.AWS_SECRET_ACCESS_KEY
      ? { AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY }
      : {}),
    ...options.extra,
  };
  return values;
}

export interface TestTopics {
  prefix: string;
  names: Record<TopicKey, string>;
  kafka: Kafka;
  admin: Admin;
  /** Disconnects the admin client and deletes the topics. */
  cleanup(): Promise<void>;
}

/**
 * Creates every catalogue topic under a fresh prefix (`t.<label>-<random>.`), with 3
 * partitions each, so test files never see each other's records.
 */
export async function createTestTopics(label: string, partitions = 3): Promise<TestTopics> {
  const env = testEnv();
  const prefix = `t.${uniqueId(label)}.`;
  const logger = createLogger({ service: 'test', level: 'warn' });
  const kafka = createKafka(
    { KAFKA_BROKERS: env.KAFKA_BROKERS.split(','), KAFKA_SSL: false },
    `test-${label}`,
    logger,
  );
  const admin = kafka.admin();
  await admin.connect();
  await applyTopics(
    admin,
    topicCatalogue({
      prefix,
      rawPartitions: partitions,
      eventsPartitions: partitions,
      outboundPartitions: partitions,
    }),
  );
  const names = topicNames(prefix);
  return {
    prefix,
    names,
    kafka,
    admin,
    cleanup: async () => {
      await admin.deleteTopics({ topics: Object.values(names) }).catch(() => {});
      await admin.disconnect();
    },
  };
}

export interface TestDatabase extends DatabaseHandle {
  url: string;
  name: string;
  /** Closes the pool and drops the database. */
  drop(): Promise<void>;
}

/** Creates a fresh database on the test server with every migration applied. */
export async function createTestDatabase(label: string): Promise<TestDatabase> {
  const env = testEnv();
  const name = `t_${uniqueId(label).replace(/-/g, '_')}`;
  const serverUrl = new URL(env.DATABASE_URL);
  const adminUrl = new URL(env.DATABASE_URL);
  adminUrl.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: adminUrl.toString() });
  await admin.connect();
  await admin.query(`create database "${name}"`);
  await admin.end();

  serverUrl.pathname = `/${name}`;
  const url = serverUrl.toString();
  const handle = createDatabase({ DATABASE_URL: url }, 5);
  await migrateUp(handle.db);
  return {
    ...handle,
    url,
    name,
    drop: async () => {
      await handle.close();
      const client = new pg.Client({ connectionString: adminUrl.toString() });
      await client.connect();
      await client.query(`drop database if exists "${name}" with (force)`);
      await client.end();
    },
  };
}

export interface CapturedLogger {
  logger: Logger;
  /** Every line written so far, as raw JSON text. */
  lines(): string[];
  /** Every line parsed as JSON. */
  records(): Array<Record<string, unknown>>;
  /** All captured text joined, for secret scans. */
  text(): string;
}

/** A pino logger that keeps its lines in memory, for assertions on logs and secret scans. */
export function captureLogger(service: string, level = 'debug'): CapturedLogger {
  const lines: string[] = [];
  let pending = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      pending += chunk.toString('utf8');
      let newline = pending.indexOf('\n');
      while (newline >= 0) {
        lines.push(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
        newline = pending.indexOf('\n');
      }
      callback();
    },
  });
  const logger = createLogger({ service, level, destination: stream });
  return {
    logger,
    lines: () => [...lines],
    records: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
    text: () => lines.join('\n'),
  };
}

export interface ConsumedRecord {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer | null;
  headers: IHeaders;
  timestamp: string;
}

/**
 * Reads a topic from the beginning with a private consumer group until `until` returns true for
 * the records read so far, or the deadline passes (then it returns what it has). Reads
 * committed records only unless `readUncommitted` is set.
 */
export async function readTopic(
  kafka: Kafka,
  topic: string,
  options: {
    until?: (records: ConsumedRecord[]) => boolean;
    timeoutMs?: number;
    readUncommitted?: boolean;
  } = {},
): Promise<ConsumedRecord[]> {
  const records: ConsumedRecord[] = [];
  const consumer: Consumer = kafka.consumer({
    groupId: uniqueId('reader'),
    readUncommitted: options.readUncommitted ?? false,
    sessionTimeout: 10_000,
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const until = options.until ?? (() => false);
  const timeoutMs = options.timeoutMs ?? 20_000;
  try {
    await new Promise<void>((resolveRead, reject) => {
      const timer = setTimeout(resolveRead, timeoutMs);
      consumer
        .run({
          eachMessage: async ({ topic: t, partition, message }) => {
            records.push({
              topic: t,
              partition,
              offset: message.offset,
              key: message.key ? message.key.toString('utf8') : null,
              value: message.value,
              headers: message.headers ?? {},
              timestamp: message.timestamp,
            });
            if (until(records)) {
              clearTimeout(timer);
              resolveRead();
            }
          },
        })
        .catch(reject);
      if (until(records)) {
        clearTimeout(timer);
        resolveRead();
      }
    });
  } finally {
    await consumer.disconnect();
  }
  return records;
}

/** Polls `check` until it returns a truthy value or the deadline passes. */
export async function eventually<T>(
  description: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const reason = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${description}${reason}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
