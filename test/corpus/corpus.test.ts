import {
  dlqRecordSchema,
  type IgEventV1,
  igEventV1Schema,
  unroutedRecordSchema,
} from '@ig-router/core';
import {
  type ConsumedRecord,
  captureLogger,
  createTestDatabase,
  createTestTopics,
  eventually,
  type TestDatabase,
  type TestTopics,
} from '@ig-router/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  loadGatewayConfig,
  type RunningGateway,
  startGateway,
} from '../../services/gateway/src/index.js';
import { type RunningRouter, startRouter } from '../../services/router/src/service.js';
import {
  committedRecords,
  headerText,
  readCommittedToEnd,
  routerTestConfig,
  seedAccount,
} from '../../services/router/test/helpers.js';
import {
  type CorpusCase,
  type CorpusContext,
  CUSTOMER_IGSID,
  corpusCases,
  type ExpectedOutcome,
} from './cases.js';
import { type RawResponse, sendRaw } from './raw-http.js';

// Sends every corpus case to a gateway and router running in-process on their own topics and
// database. Then it checks each case's HTTP status and where its delivery ended: nowhere, or
// in `ig.raw` once and in exactly one of `ig.events`, `ig.events.unrouted` and `ig.dlq`.

const BODY_LIMIT_BYTES = 1024 * 1024;
/**
 * The gateway's time limit for receiving a whole request, short for the slow cases. The router
 * shares the event loop here, and routing the large cases stalls it for a second or more, so a
 * shorter limit times out requests whose bytes were waiting in the socket buffer.
 */
const REQUEST_TIMEOUT_MS = 5_000;
const CONCURRENCY = 8;

interface CaseResult {
  response: RawResponse;
  requestId: string | undefined;
}

interface Outputs {
  events: ConsumedRecord[];
  unrouted: ConsumedRecord[];
  dlq: ConsumedRecord[];
}

function expectedOf(testCase: CorpusCase, ctx: CorpusContext): ExpectedOutcome {
  return typeof testCase.expected === 'function' ? testCase.expected(ctx) : testCase.expected;
}

function parseRecordValue<T>(record: ConsumedRecord): T {
  return JSON.parse((record.value ?? Buffer.alloc(0)).toString('utf8')) as T;
}

function positionOf(record: ConsumedRecord): string {
  const value = parseRecordValue<{ source: { partition: number; offset: string } }>(record);
  return `${value.source.partition}:${value.source.offset}`;
}

function groupByPosition(records: ConsumedRecord[]): Map<string, ConsumedRecord[]> {
  const groups = new Map<string, ConsumedRecord[]>();
  for (const record of records) {
    const position = positionOf(record);
    groups.set(position, [...(groups.get(position) ?? []), record]);
  }
  return groups;
}

async function runLimited<T>(items: T[], limit: number, run: (item: T) => Promise<void>) {
  const queue = [...items];
  const workers = Array.from({ length: limit }, async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await run(item);
  });
  await Promise.all(workers);
}

describe('bad-input corpus', () => {
  const cases = corpusCases();
  const results = new Map<string, CaseResult>();
  /** `ig.raw` records by the `igr-request-id` header the gateway set. */
  const rawByRequestId = new Map<string, ConsumedRecord[]>();
  let rawRecords: ConsumedRecord[] = [];
  const outputsByPosition = new Map<string, Outputs>();
  let topics: TestTopics;
  let database: TestDatabase;
  let gateway: RunningGateway;
  let router: RunningRouter;
  let ctx: CorpusContext;

  beforeAll(async () => {
    [topics, database] = await Promise.all([
      createTestTopics('corpus'),
      createTestDatabase('corpus'),
    ]);
    const base = `178414${String(Date.now()).slice(-8)}`;
    ctx = {
      appSecret: 'corpus-app-secret',
      activeId: `${base}001`,
      inactiveId: `${base}002`,
      unknownId: `${base}003`,
      verifyToken: 'corpus-verify-token',
      bodyLimitBytes: BODY_LIMIT_BYTES,
    };
    await seedAccount(database.db, { ig_business_id: ctx.activeId, username: 'corpus_active' });
    await seedAccount(database.db, {
      ig_business_id: ctx.inactiveId,
      username: 'corpus_inactive',
      active: false,
    });

    const routerConfig = routerTestConfig({ prefix: topics.prefix, databaseUrl: database.url });
    [gateway, router] = await Promise.all([
      startGateway(
        loadGatewayConfig({
          KAFKA_BROKERS: routerConfig.KAFKA_BROKERS.join(','),
          TOPIC_PREFIX: topics.prefix,
          HOST: '127.0.0.1',
          PORT: '0',
          META_APP_SECRET: ctx.appSecret,
          META_VERIFY_TOKEN: ctx.verifyToken,
          BODY_LIMIT_BYTES: String(BODY_LIMIT_BYTES),
          REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
          GATEWAY_INSTANCE: 'gateway-corpus',
          LOG_LEVEL: 'warn',
        }),
        { logger: captureLogger('gateway', 'warn').logger },
      ),
      startRouter(routerConfig, { logger: captureLogger('router', 'warn').logger }),
    ]);
    const port = Number(new URL(gateway.url).port);

    const send = async (testCase: CorpusCase) => {
      const request = testCase.request(ctx);
      const response = await sendRaw(port, request.bytes, {
        timeoutMs: 15_000,
        ...request.options,
      });
      results.set(testCase.name, { response, requestId: response.headers['x-request-id']?.[0] });
    };
    await runLimited(
      cases.filter((testCase) => !testCase.slow),
      CONCURRENCY,
      send,
    );
    await Promise.all(cases.filter((testCase) => testCase.slow).map(send));

    // A 200 means Kafka acknowledged the record, so `ig.raw` is complete now.
    rawRecords = await readCommittedToEnd(topics.kafka, topics.names.raw);
    for (const record of rawRecords) {
      const requestId = headerText(record.headers, 'igr-request-id') ?? '';
      rawByRequestId.set(requestId, [...(rawByRequestId.get(requestId) ?? []), record]);
    }

    // The router commits its `ig.raw` offsets in the transaction of its outputs.
    await eventually(
      `the router to consume all ${rawRecords.length} ig.raw records`,
      async () =>
        (await committedRecords(topics.kafka, routerConfig.ROUTER_GROUP_ID, topics.names.raw)) ===
        BigInt(rawRecords.length),
      60_000,
      250,
    );
    const [events, unrouted, dlq] = await Promise.all([
      readCommittedToEnd(topics.kafka, topics.names.events),
      readCommittedToEnd(topics.kafka, topics.names.unrouted),
      readCommittedToEnd(topics.kafka, topics.names.dlq),
    ]);
    const grouped = {
      events: groupByPosition(events),
      unrouted: groupByPosition(unrouted),
      dlq: groupByPosition(dlq),
    };
    for (const record of rawRecords) {
      const position = `${record.partition}:${record.offset}`;
      outputsByPosition.set(position, {
        events: grouped.events.get(position) ?? [],
        unrouted: grouped.unrouted.get(position) ?? [],
        dlq: grouped.dlq.get(position) ?? [],
      });
    }
  }, 180_000);

  afterAll(async () => {
    const statuses = new Map<string, number>();
    for (const testCase of cases) {
      const status = results.get(testCase.name)?.response.status ?? -1;
      const key = `${status} ${expectedOf(testCase, ctx).topic}`;
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
    }
    process.stdout.write(
      `[corpus] ${cases.length} cases; by status and topic: ${[...statuses]
        .map(([key, count]) => `${key}=${count}`)
        .join(', ')}\n`,
    );
    await gateway?.close();
    await router?.stop();
    await database?.drop();
    await topics?.cleanup();
  });

  function resultOf(testCase: CorpusCase): CaseResult {
    const result = results.get(testCase.name);
    if (!result) throw new Error(`case ${testCase.name} was not sent`);
    return result;
  }

  function outputsOf(testCase: CorpusCase): { raw: ConsumedRecord; outputs: Outputs } {
    const { requestId } = resultOf(testCase);
    const raw = rawByRequestId.get(requestId ?? '') ?? [];
    expect(raw, 'ig.raw records of the request').toHaveLength(1);
    const record = raw[0] as ConsumedRecord;
    const outputs = outputsByPosition.get(`${record.partition}:${record.offset}`);
    if (!outputs) throw new Error(`no outputs for ig.raw ${record.partition}:${record.offset}`);
    return { raw: record, outputs };
  }

  it.each(cases.map((testCase) => [testCase.name, testCase] as const))(
    'case %s',
    (_name, testCase) => {
      const expected = expectedOf(testCase, ctx);
      const { response, requestId } = resultOf(testCase);
      const statuses = Array.isArray(expected.status) ? expected.status : [expected.status];

      expect(statuses, `status ${response.status}`).toContain(response.status);
      expect(response.headers['set-cookie']).toBeUndefined();
      expect(Object.keys(response.headers).filter((name) => name.startsWith('igr-'))).toEqual([]);
      if (expected.code !== undefined) {
        expect(JSON.parse(response.body.toString('utf8')).code).toBe(expected.code);
      }

      if (expected.topic === 'none') {
        if (requestId !== undefined) expect(rawByRequestId.get(requestId)).toBeUndefined();
        return;
      }

      const { outputs } = outputsOf(testCase);
      const count = expected.count ?? 1;
      for (const topic of ['events', 'unrouted', 'dlq'] as const) {
        expect(outputs[topic], `records in ${topic}`).toHaveLength(
          topic === expected.topic ? count : 0,
        );
      }
      for (const record of outputs.events) {
        expect(igEventV1Schema.safeParse(parseRecordValue(record)).success).toBe(true);
      }
      for (const record of outputs.unrouted) {
        const value = unroutedRecordSchema.parse(parseRecordValue(record));
        expect(value.reason).toBe(expected.reason);
      }
      for (const record of outputs.dlq) {
        const value = dlqRecordSchema.parse(parseRecordValue(record));
        expect(value.reason).toBe(expected.reason);
      }
    },
  );

  it('stores only deliveries expected in ig.raw', () => {
    const stored = new Set(
      cases
        .filter((testCase) => expectedOf(testCase, ctx).topic !== 'none')
        .map((testCase) => resultOf(testCase).requestId),
    );
    const strays = rawRecords.filter(
      (record) => !stored.has(headerText(record.headers, 'igr-request-id')),
    );

    expect(strays.map((record) => record.value?.subarray(0, 200).toString('utf8'))).toEqual([]);
    expect(rawRecords).toHaveLength(stored.size);
  });

  it('keeps 17-digit ids sent as JSON numbers exact', () => {
    const entryCase = cases.find((c) => c.name === 'entry id as a 17-digit JSON number');
    const senderCase = cases.find((c) => c.name === 'sender and recipient ids as JSON numbers');
    if (!entryCase || !senderCase) throw new Error('cases missing');

    const [entryEvent] = outputsOf(entryCase).outputs.events.map((r) =>
      parseRecordValue<IgEventV1>(r),
    );
    const [senderEvent] = outputsOf(senderCase).outputs.events.map((r) =>
      parseRecordValue<IgEventV1>(r),
    );

    expect(entryEvent?.ig_business_id).toBe(ctx.activeId);
    expect(outputsOf(entryCase).raw.key).toBe(ctx.activeId);
    expect(senderEvent?.sender_id).toBe(CUSTOMER_IGSID);
    expect(senderEvent?.recipient_id).toBe(ctx.activeId);
  });

  it('ignores record headers sent by the client', () => {
    const testCase = cases.find(
      (c) => c.name === 'client Igr-App and X-Request-Id headers are not stored',
    );
    if (!testCase) throw new Error('case missing');
    const { raw } = outputsOf(testCase);

    expect(headerText(raw.headers, 'igr-app')).toBe('default');
    expect(headerText(raw.headers, 'igr-request-id')).not.toBe('forged-request-id');
    expect(headerText(raw.headers, 'igr-received-at')).not.toBe('1');
    expect(resultOf(testCase).requestId).not.toBe('forged-request-id');
  });

  it('echoes a handshake challenge as plain text', () => {
    const testCase = cases.find(
      (c) => c.name === 'handshake: challenge with an encoded CRLF and header',
    );
    if (!testCase) throw new Error('case missing');
    const { response } = resultOf(testCase);

    expect(response.body.toString('utf8')).toBe('\r\nSet-Cookie: evil=1');
    expect(response.headers['content-type']).toEqual(['text/plain; charset=utf-8']);
    expect(response.headers['x-content-type-options']).toEqual(['nosniff']);
  });

  it('closes slow requests within the request timeout', () => {
    for (const testCase of cases.filter((c) => c.slow)) {
      const { response } = resultOf(testCase);
      // The check interval adds up to one second to the timeout.
      expect(response.elapsedMs, testCase.name).toBeLessThan(REQUEST_TIMEOUT_MS + 4_000);
    }
  });
});
