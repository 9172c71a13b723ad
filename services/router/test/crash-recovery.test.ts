import { type ChildProcess, spawn } from 'node:child_process';
import { createIdempotentProducer, type IgEventV1 } from '@ig-router/core';
import {
  captureLogger,
  createTestDatabase,
  createTestTopics,
  eventually,
  MetaPayloads,
  type TestDatabase,
  type TestTopics,
  toMetaJson,
  uniqueId,
  webhookBody,
} from '@ig-router/testkit';
import type { Message } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningRouter, startRouter } from '../src/service.js';
import {
  committedRecords,
  parseValue,
  rawHeaders,
  rawKey,
  readCommittedToEnd,
  routerTestConfig,
  routerTestEnv,
  seedAccount,
} from './helpers.js';

const RECORD_COUNT = 3_000;
const ITEMS_PER_RECORD = 2;

interface RouterProcess {
  child: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
}

/** Runs the router as `node --conditions=source --import tsx services/router/src/main.ts`. */
function spawnRouter(env: Record<string, string>): RouterProcess {
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', 'services/router/src/main.ts'],
    {
      cwd: new URL('../../../', import.meta.url).pathname,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const output: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolveExit) => child.once('exit', resolveExit));
  return { child, output, exited };
}

/** Builds `count` deliveries of ITEMS_PER_RECORD messages each, spread over `accounts`. */
function rawMessages(count: number, accounts: string[], payloads: MetaPayloads): Message[] {
  const receivedAtMs = Date.now();
  const messages: Message[] = [];
  for (let index = 0; index < count; index += 1) {
    const account = accounts[index % accounts.length] as string;
    const customer = payloads.nextId();
    const body = Buffer.from(
      toMetaJson(
        webhookBody({
          entries: [
            {
              id: account,
              messaging: Array.from({ length: ITEMS_PER_RECORD }, (_, item) =>
                payloads.textMessage({
                  ig_business_id: account,
                  igsid: customer,
                  text: `record ${index} item ${item}`,
                }),
              ),
            },
          ],
        }),
      ),
    );
    messages.push({
      key: rawKey(body),
      value: body,
      timestamp: String(receivedAtMs),
      headers: rawHeaders(body, receivedAtMs),
    });
  }
  return messages;
}

/** Writes RECORD_COUNT deliveries to ig.raw. */
async function prefillRaw(
  topics: TestTopics,
  accounts: string[],
  payloads: MetaPayloads,
): Promise<void> {
  const producer = createIdempotentProducer(topics.kafka);
  await producer.connect();
  const messages = rawMessages(RECORD_COUNT, accounts, payloads);
  for (let start = 0; start < messages.length; start += 500) {
    await producer.send({
      topic: topics.names.raw,
      acks: -1,
      messages: messages.slice(start, start + 500),
    });
  }
  await producer.disconnect();
}

async function recordsIn(router: RunningRouter): Promise<number> {
  return (await router.metrics.recordsIn.get()).values.reduce((sum, value) => sum + value.value, 0);
}

/** Reads ig.events to its end and checks that each of `recordCount` raw records has its events once. */
async function expectEveryEventOnce(topics: TestTopics, recordCount = RECORD_COUNT): Promise<void> {
  const records = await readCommittedToEnd(topics.kafka, topics.names.events);
  const counts = new Map<string, number>();
  const items = new Set<string>();
  for (const record of records) {
    const event = parseValue<IgEventV1>(record);
    counts.set(event.event_id, (counts.get(event.event_id) ?? 0) + 1);
    items.add(`${event.source.partition}:${event.source.offset}:${event.source.item_index}`);
  }
  const duplicated = [...counts].filter(([, count]) => count > 1);
  expect(duplicated).toEqual([]);
  expect(counts.size).toBe(recordCount * ITEMS_PER_RECORD);
  expect(items.size).toBe(recordCount * ITEMS_PER_RECORD);
  expect(records).toHaveLength(recordCount * ITEMS_PER_RECORD);
}

describe('router exactly once', () => {
  let database: TestDatabase;
  const topicSets: TestTopics[] = [];
  const running: RouterProcess[] = [];
  const payloads = new MetaPayloads({ seed: 202 });
  const accounts = [payloads.nextId(), payloads.nextId(), payloads.nextId(), payloads.nextId()];

  beforeAll(async () => {
    database = await createTestDatabase('router_exactly_once');
    for (const account of accounts) {
      await seedAccount(database.db, { ig_business_id: account });
    }
  });

  afterAll(async () => {
    for (const router of running) {
      if (router.child.exitCode === null && router.child.signalCode === null) {
        router.child.kill('SIGKILL');
        await router.exited;
      }
    }
    await database?.drop();
    for (const topics of topicSets) await topics.cleanup();
  });

  async function freshTopics(label: string): Promise<TestTopics> {
    const topics = await createTestTopics(label);
    topicSets.push(topics);
    await prefillRaw(topics, accounts, payloads);
    return topics;
  }

  it('writes every event exactly once after SIGKILLs mid-transaction and restarts', async () => {
    const topics = await freshTopics('router-crash');
    const env = routerTestEnv({
      prefix: topics.prefix,
      databaseUrl: database.url,
      extra: {
        ROUTER_GROUP_ID: uniqueId('router-crash'),
        ROUTER_MAX_RECORDS_PER_TRANSACTION: '40',
        LOG_LEVEL: 'debug',
      },
    });
    const groupId = env.ROUTER_GROUP_ID as string;
    const committed = () => committedRecords(topics.kafka, groupId, topics.names.raw);

    // Each cycle kills the router right after it logged that a transaction contains outputs, then
    // checks that the cycle wrote more records to ig.events than its committed raw records
    // account for: the outputs of a transaction left open by the kill.
    let interrupted = 0;
    let writtenBefore = 0;
    for (let cycle = 0; cycle < 4 && interrupted < 2; cycle += 1) {
      const before = await committed();
      const router = spawnRouter(env);
      running.push(router);
      await eventually(
        'the router to commit more of ig.raw and start another transaction',
        async () => {
          const progressed = (await committed()) > before + 100n;
          return progressed && router.output.join('').includes('transaction outputs sent');
        },
        60_000,
        20,
      );
      router.output.length = 0;
      await eventually(
        'a transaction with outputs',
        () => router.output.join('').includes('transaction outputs sent'),
        30_000,
        1,
      );
      router.child.kill('SIGKILL');
      await router.exited;

      const committedRaw = await committed();
      expect(committedRaw).toBeLessThan(BigInt(RECORD_COUNT));
      const written = await readCommittedToEnd(topics.kafka, topics.names.events, 60_000, true);
      const committedInCycle = Number(committedRaw - before) * ITEMS_PER_RECORD;
      if (written.length - writtenBefore > committedInCycle) interrupted += 1;
      writtenBefore = written.length;
    }
    expect(interrupted).toBeGreaterThanOrEqual(1);

    const last = spawnRouter(env);
    running.push(last);
    await eventually(
      'the restarted router to commit all of ig.raw',
      async () => (await committed()) === BigInt(RECORD_COUNT),
      90_000,
      250,
    );
    last.child.kill('SIGTERM');
    expect(await last.exited).toBe(0);

    await expectEveryEventOnce(topics);
  });

  it('writes every event exactly once across rebalances between two instances', async () => {
    const topics = await freshTopics('router-rebalance');
    const config = routerTestConfig({
      prefix: topics.prefix,
      databaseUrl: database.url,
      extra: { ROUTER_MAX_RECORDS_PER_TRANSACTION: '20' },
    });
    const committed = () =>
      committedRecords(topics.kafka, config.ROUTER_GROUP_ID, topics.names.raw);

    // Deliveries keep arriving on every partition while instances join and leave, so both
    // rebalances happen with transactions in progress.
    const producer = createIdempotentProducer(topics.kafka);
    await producer.connect();
    let produced = RECORD_COUNT;
    let producing = true;
    const background = (async () => {
      while (producing) {
        const messages = rawMessages(30, accounts, payloads).map((message, index) => ({
          ...message,
          partition: index % 3,
        }));
        await producer.send({ topic: topics.names.raw, acks: -1, messages });
        produced += messages.length;
        await new Promise((resolveWait) => setTimeout(resolveWait, 20));
      }
    })();

    const first = await startRouter(config, { logger: captureLogger('router-a', 'warn').logger });
    let second: RunningRouter | undefined;
    try {
      await eventually(
        'the first instance to commit records',
        async () => (await recordsIn(first)) > 0,
        60_000,
        20,
      );
      second = await startRouter(config, { logger: captureLogger('router-b', 'warn').logger });
      const joined = second;
      await eventually(
        'the second instance to commit records',
        async () => (await recordsIn(joined)) > 0,
        60_000,
        20,
      );
      await first.stop();
      const afterLeave = await recordsIn(joined);
      await eventually(
        "the second instance to take over the first one's partitions",
        async () => (await recordsIn(joined)) > afterLeave + 200,
        60_000,
        20,
      );
    } finally {
      producing = false;
      await background;
      await producer.disconnect();
    }
    try {
      await eventually(
        'every record to be committed',
        async () => (await committed()) === BigInt(produced),
        90_000,
        100,
      );
    } finally {
      await first.stop();
      await second?.stop();
    }
    await expectEveryEventOnce(topics, produced);
  });
});
