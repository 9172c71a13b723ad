import { connect, createServer, type Server, type Socket } from 'node:net';
import { createIdempotentProducer, type IgEventV1 } from '@ig-router/core';
import {
  type CapturedLogger,
  captureLogger,
  createTestDatabase,
  createTestTopics,
  eventually,
  MetaPayloads,
  type TestDatabase,
  type TestTopics,
  toMetaJson,
  webhookBody,
} from '@ig-router/testkit';
import type { Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningRouter, startRouter } from '../src/service.js';
import {
  collectTopics,
  eventsFrom,
  parseValue,
  produceRaw,
  routerTestConfig,
  type SeededAccount,
  seedAccount,
  type TopicCollector,
} from './helpers.js';

/** A TCP proxy on 127.0.0.1 that can drop every connection and refuse new ones, like a database outage. */
class OutageProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async up(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.targetPort, this.targetHost);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolveListen) =>
      server.listen(this.port, '127.0.0.1', resolveListen),
    );
    const address = server.address();
    if (typeof address === 'object' && address) this.port = address.port;
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolveClose) =>
      server ? server.close(() => resolveClose()) : resolveClose(),
    );
  }
}

describe('router during a PostgreSQL outage', () => {
  let topics: TestTopics;
  let database: TestDatabase;
  let proxy: OutageProxy;
  let router: RunningRouter;
  let captured: CapturedLogger;
  let producer: Producer;
  let collector: TopicCollector;
  const payloads = new MetaPayloads({ seed: 404 });
  let warm: SeededAccount;
  let cold: SeededAccount;

  beforeAll(async () => {
    [topics, database] = await Promise.all([
      createTestTopics('router-outage'),
      createTestDatabase('router_outage'),
    ]);
    warm = await seedAccount(database.db, { ig_business_id: payloads.nextId() });
    cold = await seedAccount(database.db, { ig_business_id: payloads.nextId() });

    const target = new URL(database.url);
    proxy = new OutageProxy(target.hostname, Number(target.port));
    await proxy.up();
    const proxied = new URL(database.url);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(proxy.port);

    captured = captureLogger('router', 'info');
    router = await startRouter(
      routerTestConfig({
        prefix: topics.prefix,
        databaseUrl: proxied.toString(),
        extra: {
          ROUTER_RETRY_INITIAL_MS: '100',
          ROUTER_RETRY_MAX_MS: '500',
          PROJECTOR_ENABLED: 'true',
        },
      }),
      { logger: captured.logger },
    );
    producer = createIdempotentProducer(topics.kafka);
    await producer.connect();
    collector = await collectTopics(topics.kafka, [topics.names.events, topics.names.unrouted]);
  });

  afterAll(async () => {
    await collector?.stop();
    await producer?.disconnect();
    await router?.stop();
    await proxy?.down();
    await database?.drop();
    await topics?.cleanup();
  });

  const bodyFor = (account: SeededAccount) =>
    toMetaJson(
      webhookBody({
        entries: [
          {
            id: account.ig_business_id,
            messaging: [
              payloads.textMessage({
                ig_business_id: account.ig_business_id,
                igsid: payloads.nextId(),
                text: 'anyone?',
              }),
            ],
          },
        ],
      }),
    );

  it('pauses instead of sending to unrouted, and resumes when PostgreSQL is back', async () => {
    // Both pipelines have written something before the outage starts.
    const [warmPosition] = await produceRaw(producer, topics.names.raw, [bodyFor(warm)]);
    if (!warmPosition) throw new Error('missing position');
    await eventually(
      'the warm-up event',
      () => eventsFrom(collector.records(topics.names.events), warmPosition).length === 1,
    );
    await eventually(
      'the warm-up message in the read model',
      async () => (await messageCount()) === 1,
    );

    await proxy.down();
    const retriesBefore = await lookupRetries();
    const [position] = await produceRaw(producer, topics.names.raw, [bodyFor(cold)]);
    if (!position) throw new Error('missing position');
    await eventually(
      'two retries of the account lookup',
      async () => (await lookupRetries()) >= retriesBefore + 2,
    );

    const outputsFor = (topic: string) =>
      collector.records(topic).filter((record) => {
        const value = parseValue<IgEventV1>(record);
        return (
          value.source.partition === position.partition && value.source.offset === position.offset
        );
      });
    expect(outputsFor(topics.names.unrouted)).toEqual([]);
    expect(outputsFor(topics.names.events)).toEqual([]);
    const retryLog = captured
      .records()
      .find((line) => line.msg === 'routing records failed; pausing the partition before a retry');
    expect(retryLog).toMatchObject({
      topic: topics.names.raw,
      partition: position.partition,
      offset: position.offset,
      step: 'account_lookup',
    });
    expect((retryLog?.err as { code?: string } | undefined)?.code).toBe('ACCOUNT_LOOKUP_FAILED');

    // An event that reaches ig.events during the outage cannot be written by the projector,
    // which retries it.
    const projectorRetriesBefore = await retries('projector', 'write');
    const [warmEvent] = eventsFrom(collector.records(topics.names.events), warmPosition);
    if (!warmEvent) throw new Error('missing warm-up event');
    const duringOutage: IgEventV1 = {
      ...warmEvent,
      event_id: '1b4e28ba-2fa1-51d2-883f-0016d3cca427',
      payload: { mid: 'mid-during-outage', text: 'written later', attachments: [] },
    } as IgEventV1;
    await producer.send({
      topic: topics.names.events,
      acks: -1,
      messages: [{ key: warm.ig_business_id, value: JSON.stringify(duringOutage) }],
    });
    await eventually(
      'the projector to retry its write',
      async () => (await retries('projector', 'write')) > projectorRetriesBefore,
    );

    await proxy.up();
    const events = await eventually('the event after PostgreSQL is back', () => {
      const found = eventsFrom(collector.records(topics.names.events), position);
      return found.length === 1 ? found : undefined;
    });
    expect(events[0]?.client_id).toBe(cold.client_id);
    expect(outputsFor(topics.names.unrouted)).toEqual([]);
    await eventually(
      'the projector to write every message',
      async () => (await messageCount()) === 3,
    );
  });

  async function messageCount(): Promise<number> {
    const row = await database.db
      .selectFrom('messages')
      .select((eb) => eb.fn.countAll<string>().as('count'))
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  async function retries(pipeline: string, reason: string): Promise<number> {
    const metric = await router.metrics.retries.get();
    return (
      metric.values.find(
        (value) => value.labels.pipeline === pipeline && value.labels.reason === reason,
      )?.value ?? 0
    );
  }

  function lookupRetries(): Promise<number> {
    return retries('router', 'account_lookup');
  }
});
