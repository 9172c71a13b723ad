import { createIdempotentProducer, createLogger, type Logger, loadConfig } from '@ig-router/core';
import {
  createTestDatabase,
  createTestTopics,
  MetaPayloads,
  serviceEnv,
  type TestDatabase,
  type TestTopics,
  toMetaJson,
  uniqueId,
  webhookBody,
} from '@ig-router/testkit';
import type { Admin, Kafka, Message } from 'kafkajs';
import { routerConfigSchema } from '../services/router/src/config.js';
import { startRouter } from '../services/router/src/service.js';

/**
 * Router throughput: events per second from a pre-filled ig.raw to committed ig.events, next
 * to a bare kafkajs loop that consumes the same records and copies each one to another topic
 * with an idempotent producer (acks=all), committing offsets after each batch.
 *
 * Both read the same partitions with the same concurrency. A run's rate is measured from its
 * first committed offset to the commit of the last record. That leaves out consumer-group joins
 * and the router's start-up (PostgreSQL, LISTEN, one InitProducerId per partition). The wall
 * time from start to end is reported beside it. Rounds alternate (bare, router, bare, ...) and
 * the figures are medians, because the machine is shared with other work.
 *
 * TODO: the target, at least 0.7 of the bare loop, is not reached: on the 2-core machine of
 * bench/results/router.json the router commits 0.57 events (0.38 records) per record the bare
 * loop copies. Each router record writes about 2.3 times the bytes the bare copy writes (1.5
 * events with their envelope), runs zod parsing and an event id hash per item, and commits a
 * transaction per batch. Profiling where the remaining time goes (kafkajs record encoding
 * showed up first in the gateway benchmark) is the next step.
 */

const RECORD_COUNT = 20_000;
const ACCOUNT_COUNT = 50;
const PARTITIONS = 3;
const CONCURRENCY = 3;
const ROUNDS = 3;
const TIMEOUT_MS = 60_000;
const TARGET_RATIO = 0.7;

interface Measurement {
  /** Seconds from the first committed offset to the last. */
  steadySeconds: number;
  /** Records committed between those two points. */
  steadyRecords: number;
  /** Seconds from the start of the run (before the consumer joined) to the last commit. */
  wallSeconds: number;
}

interface RouterMeasurement extends Measurement {
  events: number;
  transactions: number;
  aborts: number;
}

export async function run(log: (line: string) => void): Promise<Record<string, unknown>> {
  const logger = createLogger({ service: 'bench-router', level: 'warn' });
  let topics: TestTopics | undefined;
  let database: TestDatabase | undefined;
  try {
    [topics, database] = await Promise.all([
      createTestTopics('bench-router', PARTITIONS),
      createTestDatabase('bench_router'),
    ]);
    const accounts = await seedAccounts(database);
    const prefill = await prefillRaw(topics.kafka, topics.names.raw, accounts);
    log(
      `ig.raw: ${RECORD_COUNT} records, ${prefill.items} items, ${mib(prefill.bytes)} MiB (${Math.round(prefill.bytes / RECORD_COUNT)} B per record), ${PARTITIONS} partitions`,
    );

    const copyTopic = `${topics.prefix}bench.copy`;
    await topics.admin.createTopics({
      topics: [{ topic: copyTopic, numPartitions: PARTITIONS, replicationFactor: 1 }],
      waitForLeaders: true,
    });

    const bareRuns: Measurement[] = [];
    const routerRuns: RouterMeasurement[] = [];
    for (let round = 1; round <= ROUNDS; round += 1) {
      const bare = await runBareCopy(topics, copyTopic);
      bareRuns.push(bare);
      log(
        `round ${round} bare copy: ${Math.round(rate(bare))} records/s (wall ${bare.wallSeconds.toFixed(2)} s)`,
      );

      const router = await runRouter(topics, database, logger);
      routerRuns.push(router);
      log(
        `round ${round} router: ${Math.round(rate(router))} records/s, ${Math.round(eventRate(router))} events/s (wall ${router.wallSeconds.toFixed(2)} s, ${router.transactions} transactions, ${router.aborts} aborted)`,
      );
    }

    const bareRate = median(bareRuns.map(rate));
    const routerRate = median(routerRuns.map(rate));
    const routerEventRate = median(routerRuns.map(eventRate));
    const eventsPerRecord = (routerRuns[0]?.events ?? 0) / RECORD_COUNT;
    const recordRatio = routerRate / bareRate;
    const eventRatio = routerEventRate / bareRate;
    log(
      `median: bare ${Math.round(bareRate)} records/s; router ${Math.round(routerRate)} records/s = ${Math.round(routerEventRate)} events/s`,
    );
    log(
      `router events/s / bare records/s = ${eventRatio.toFixed(2)}; router records/s / bare records/s = ${recordRatio.toFixed(2)} (target ${TARGET_RATIO})`,
    );
    return {
      records: RECORD_COUNT,
      items: prefill.items,
      raw_bytes: prefill.bytes,
      partitions: PARTITIONS,
      concurrency: CONCURRENCY,
      rounds: ROUNDS,
      bare_records_per_s: Math.round(bareRate),
      bare_wall_s: round2(median(bareRuns.map((m) => m.wallSeconds))),
      router_records_per_s: Math.round(routerRate),
      router_events_per_s: Math.round(routerEventRate),
      router_events_per_record: round2(eventsPerRecord),
      router_wall_s: round2(median(routerRuns.map((m) => m.wallSeconds))),
      router_transactions: routerRuns[0]?.transactions ?? 0,
      router_aborts: routerRuns.reduce((sum, m) => sum + m.aborts, 0),
      ratio_router_events_to_bare_records: round2(eventRatio),
      ratio_router_records_to_bare_records: round2(recordRatio),
      target_ratio: TARGET_RATIO,
      runs: { bare: bareRuns, router: routerRuns },
    };
  } finally {
    await database?.drop();
    await topics?.cleanup();
  }
}

async function seedAccounts(database: TestDatabase): Promise<string[]> {
  const client = await database.db
    .insertInto('clients')
    .values({ name: 'bench client', api_key_hash: uniqueId('hash'), api_key_prefix: 'igr_bench' })
    .returning('client_id')
    .executeTakeFirstOrThrow();
  const payloads = new MetaPayloads({ seed: 900 });
  const ids = Array.from({ length: ACCOUNT_COUNT }, () => payloads.nextId());
  await database.db
    .insertInto('ig_accounts')
    .values(
      ids.map((id) => ({
        ig_business_id: id,
        client_id: client.client_id,
        username: `bench_${id.slice(-4)}`,
        token_encrypted_key: Buffer.from('k'),
        token_iv: Buffer.from('i'),
        token_ciphertext: Buffer.from('c'),
        token_auth_tag: Buffer.from('t'),
        token_kms_key_id: 'alias/bench',
      })),
    )
    .execute();
  return ids;
}

/** Writes RECORD_COUNT webhook bodies of 1-2 KB with 1 or 2 messaging items each, as the gateway would. */
async function prefillRaw(
  kafka: Kafka,
  topic: string,
  accounts: string[],
): Promise<{ items: number; bytes: number }> {
  const payloads = new MetaPayloads({ seed: 901 });
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  let items = 0;
  let bytes = 0;
  try {
    let batch: Message[] = [];
    for (let index = 0; index < RECORD_COUNT; index += 1) {
      const account = accounts[index % accounts.length] as string;
      const itemCount = 1 + (index % 2);
      const customer = payloads.nextId();
      const text = 'Hello, is this still available? '.repeat(25).slice(0, 400 + (index % 300));
      const body = Buffer.from(
        toMetaJson(
          webhookBody({
            entries: [
              {
                id: account,
                messaging: Array.from({ length: itemCount }, () =>
                  payloads.textMessage({ ig_business_id: account, igsid: customer, text }),
                ),
              },
            ],
          }),
        ),
      );
      items += itemCount;
      bytes += body.length;
      const receivedAt = String(Date.now());
      batch.push({
        key: account,
        value: body,
        timestamp: receivedAt,
        headers: { 'igr-received-at': receivedAt, 'igr-request-id': `bench-${index}` },
      });
      if (batch.length === 1_000) {
        await producer.send({ topic, acks: -1, messages: batch });
        batch = [];
      }
    }
    if (batch.length > 0) await producer.send({ topic, acks: -1, messages: batch });
  } finally {
    await producer.disconnect();
  }
  return { items, bytes };
}

/** Consumes ig.raw with a new group and copies each record to `copyTopic`. */
async function runBareCopy(topics: TestTopics, copyTopic: string): Promise<Measurement> {
  const groupId = uniqueId('bench-bare');
  const producer = createIdempotentProducer(topics.kafka);
  const consumer = topics.kafka.consumer({ groupId, maxWaitTimeInMs: 500 });
  const started = Date.now();
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topics: [topics.names.raw], fromBeginning: true });
  try {
    await consumer.run({
      partitionsConsumedConcurrently: CONCURRENCY,
      eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
        await producer.send({
          topic: copyTopic,
          acks: -1,
          messages: batch.messages.map((message) => ({
            key: message.key,
            value: message.value,
            timestamp: message.timestamp,
            headers: message.headers,
          })),
        });
        const last = batch.messages[batch.messages.length - 1];
        if (last) resolveOffset(last.offset);
        await heartbeat();
      },
    });
    return await waitForCommitted(topics.admin, groupId, topics.names.raw, started);
  } finally {
    await consumer.disconnect();
    await producer.disconnect();
  }
}

/** Starts the router (projector off) with a new group and waits until it committed all of ig.raw. */
async function runRouter(
  topics: TestTopics,
  database: TestDatabase,
  logger: Logger,
): Promise<RouterMeasurement> {
  const config = loadConfig(
    routerConfigSchema,
    serviceEnv({
      prefix: topics.prefix,
      databaseUrl: database.url,
      extra: {
        METRICS_PORT: '0',
        PROJECTOR_ENABLED: 'false',
        ROUTER_GROUP_ID: uniqueId('bench-router'),
        ROUTER_PARTITIONS_CONCURRENCY: String(CONCURRENCY),
        LOG_LEVEL: 'warn',
      },
    }),
  );
  const started = Date.now();
  const router = await startRouter(config, { logger });
  try {
    const measurement = await waitForCommitted(
      topics.admin,
      config.ROUTER_GROUP_ID,
      topics.names.raw,
      started,
    );
    const { values: eventValues } = await router.metrics.eventsOut.get();
    const { values: transactionValues } = await router.metrics.transactions.get();
    const transactions = (outcome: string) =>
      transactionValues
        .filter((value) => value.labels.outcome === outcome)
        .reduce((total, value) => total + value.value, 0);
    return {
      ...measurement,
      events: eventValues.reduce((total, value) => total + value.value, 0),
      transactions: transactions('commit'),
      aborts: transactions('abort'),
    };
  } finally {
    await router.stop();
  }
}

/** Polls the committed offsets of `groupId` every 10 ms until all RECORD_COUNT records are committed. */
async function waitForCommitted(
  admin: Admin,
  groupId: string,
  topic: string,
  started: number,
): Promise<Measurement> {
  const deadline = Date.now() + TIMEOUT_MS;
  let first: { at: number; committed: number } | undefined;
  for (;;) {
    const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const committed = (offsets?.partitions ?? []).reduce(
      (sum, entry) => sum + Math.max(Number(entry.offset), 0),
      0,
    );
    const now = Date.now();
    if (committed > 0 && !first) first = { at: now, committed };
    if (committed >= RECORD_COUNT) {
      const from = first ?? { at: started, committed: 0 };
      return {
        steadySeconds: Math.max(now - from.at, 1) / 1000,
        steadyRecords: RECORD_COUNT - from.committed,
        wallSeconds: (now - started) / 1000,
      };
    }
    if (now > deadline) {
      throw new Error(
        `${groupId} committed ${committed} of ${RECORD_COUNT} records within ${TIMEOUT_MS} ms`,
      );
    }
    await new Promise((resolveWait) => setTimeout(resolveWait, 10));
  }
}

function rate(measurement: Measurement): number {
  return measurement.steadyRecords / measurement.steadySeconds;
}

function eventRate(measurement: RouterMeasurement): number {
  return (measurement.events / RECORD_COUNT) * rate(measurement);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
