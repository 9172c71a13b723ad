import {
  captureLogger,
  createTestDatabase,
  createTestTopics,
  type TestDatabase,
  type TestTopics,
} from '@ig-router/testkit';
import { describe, expect, it } from 'vitest';
import { loadGatewayConfig, startGateway } from '../../services/gateway/src/index.js';
import { startRouter } from '../../services/router/src/service.js';
import {
  committedRecords,
  readCommittedToEnd,
  routerTestConfig,
  seedAccount,
} from '../../services/router/test/helpers.js';
import { type CorpusContext, envelope, messagingItem, post } from './cases.js';
import { sendRaw } from './raw-http.js';

// Deliveries the gateway accepts whose router output is larger than its topic takes.
// `ig.events` and `ig.events.unrouted` keep Kafka's default `max.message.bytes` (1 MiB), but
// the gateway accepts bodies up to BODY_LIMIT_BYTES (4 MiB by default, 7 MiB at most). A dead
// letter carries the body in base64, a third larger than the body, under an 8 MiB limit.
// Each case runs on its own topics, because a record the router cannot write stops its `ig.raw`
// partition.
//
// The router used to retry such a record forever ("The request included a message larger than
// the max message size the server will accept"), which stopped its `ig.raw` partition. It now
// reads each output topic's `max.message.bytes` at start and sends a record whose output would
// not fit to `ig.dlq` (reason output_too_large), without the body when that would not fit either.

/** Bounded wait for the router to commit past the record. */
const ROUTE_WAIT_MS = 15_000;

interface PipelineResult {
  status: number;
  committed: bigint;
  outputs: { events: number; unrouted: number; dlq: number };
  /** The parsed `ig.dlq` values. */
  deadLetters: Array<{ reason: string; raw_base64: string | null; source: { offset: string } }>;
}

/** Starts a gateway and router on fresh topics, posts one body, and waits for the router. */
async function routeOne(
  bodyLimitBytes: number,
  buildBody: (ctx: CorpusContext) => string,
): Promise<PipelineResult> {
  const [topics, database]: [TestTopics, TestDatabase] = await Promise.all([
    createTestTopics('corpus-oversize', 1),
    createTestDatabase('corpus-oversize'),
  ]);
  const base = `178415${String(Date.now()).slice(-8)}`;
  const ctx: CorpusContext = {
    appSecret: 'oversize-app-secret',
    activeId: `${base}001`,
    inactiveId: `${base}002`,
    unknownId: `${base}003`,
    verifyToken: 'oversize-verify-token',
    bodyLimitBytes,
  };
  await seedAccount(database.db, { ig_business_id: ctx.activeId, username: 'oversize_active' });
  const routerConfig = routerTestConfig({ prefix: topics.prefix, databaseUrl: database.url });
  const [gateway, router] = await Promise.all([
    startGateway(
      loadGatewayConfig({
        KAFKA_BROKERS: routerConfig.KAFKA_BROKERS.join(','),
        TOPIC_PREFIX: topics.prefix,
        HOST: '127.0.0.1',
        PORT: '0',
        META_APP_SECRET: ctx.appSecret,
        META_VERIFY_TOKEN: ctx.verifyToken,
        BODY_LIMIT_BYTES: String(bodyLimitBytes),
        PRODUCE_BATCH_MAX_BYTES: String(bodyLimitBytes),
        LOG_LEVEL: 'warn',
      }),
      { logger: captureLogger('gateway', 'warn').logger },
    ),
    startRouter(routerConfig, { logger: captureLogger('router', 'warn').logger }),
  ]);

  try {
    const request = post(buildBody(ctx), ctx);
    const response = await sendRaw(Number(new URL(gateway.url).port), request.bytes);
    const deadline = Date.now() + ROUTE_WAIT_MS;
    let committed = 0n;
    while (committed < 1n && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      committed = await committedRecords(
        topics.kafka,
        routerConfig.ROUTER_GROUP_ID,
        topics.names.raw,
      );
    }
    const [events, unrouted, dlq] = await Promise.all(
      [topics.names.events, topics.names.unrouted, topics.names.dlq].map((topic) =>
        readCommittedToEnd(topics.kafka, topic),
      ),
    );
    return {
      status: response.status,
      committed,
      outputs: {
        events: events?.length ?? 0,
        unrouted: unrouted?.length ?? 0,
        dlq: dlq?.length ?? 0,
      },
      deadLetters: (dlq ?? []).map((record) => JSON.parse(String(record.value))),
    };
  } finally {
    await gateway.close();
    await router.stop();
    await database.drop();
    await topics.cleanup();
  }
}

describe('router output above the topic limit', () => {
  it('routes a 1.5 MB message for an active account', async () => {
    const result = await routeOne(4 * 1024 * 1024, (ctx) =>
      JSON.stringify(
        envelope(ctx.activeId, [
          { ...messagingItem(ctx.activeId, 'mid.oversize'), padding: 'x'.repeat(1_500_000) },
        ]),
      ),
    );

    expect(result.status).toBe(200);
    expect(result.committed).toBe(1n);
    expect(result.outputs).toEqual({ events: 0, unrouted: 0, dlq: 1 });
    expect(result.deadLetters[0]?.reason).toBe('output_too_large');
    expect(result.deadLetters[0]?.raw_base64).not.toBeNull();
  });

  it('routes a 1.5 MB entry for an unknown account', async () => {
    const result = await routeOne(4 * 1024 * 1024, (ctx) =>
      JSON.stringify(
        envelope(ctx.unknownId, [
          { ...messagingItem(ctx.unknownId, 'mid.oversize'), padding: 'x'.repeat(1_500_000) },
        ]),
      ),
    );

    expect(result.status).toBe(200);
    expect(result.committed).toBe(1n);
    expect(result.outputs).toEqual({ events: 0, unrouted: 0, dlq: 1 });
    expect(result.deadLetters[0]?.reason).toBe('output_too_large');
  });

  it('dead-letters 7 MiB of invalid JSON', async () => {
    const result = await routeOne(7 * 1024 * 1024, () => `[${'x'.repeat(7 * 1024 * 1024 - 100)}`);

    expect(result.status).toBe(200);
    expect(result.committed).toBe(1n);
    expect(result.outputs).toEqual({ events: 0, unrouted: 0, dlq: 1 });
    expect(result.deadLetters[0]).toMatchObject({
      reason: 'invalid_json',
      raw_base64: null,
      source: { offset: '0' },
    });
  });
});
