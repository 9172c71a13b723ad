import { createIdempotentProducer, type IgEventV1, type SendResult } from '@ig-router/core';
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
  type WebhookEntryInput,
  webhookBody,
} from '@ig-router/testkit';
import type { Kafka, Producer } from 'kafkajs';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningRouter, startRouter } from '../src/service.js';
import { produceRaw, routerTestConfig, type SeededAccount, seedAccount } from './helpers.js';

const T0 = Date.UTC(2025, 2, 1, 12, 0, 0);
const at = (offsetMs: number) => new Date(T0 + offsetMs);

async function readModel(database: TestDatabase) {
  const messages = await sql<Record<string, unknown>>`
    select message_key, ig_business_id, client_id, igsid, direction, mid, text, event_type,
           occurred_at, deleted
    from messages order by ig_business_id, occurred_at, igsid, event_type`.execute(database.db);
  const igsids = await sql<Record<string, unknown>>`
    select ig_business_id, igsid, client_id, first_seen_at, last_inbound_at, last_event_id
    from igsids order by ig_business_id, igsid`.execute(database.db);
  return { messages: messages.rows, igsids: igsids.rows };
}

/** Waits until `groupId` has committed up to the end of every partition of `topics`. */
async function waitUntilCaughtUp(kafka: Kafka, groupId: string, topics: string[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await eventually(
      `${groupId} to reach the end of ${topics.join(', ')}`,
      async () => {
        for (const topic of topics) {
          const ends = await admin.fetchTopicOffsets(topic);
          const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
          for (const end of ends) {
            if (end.high === '0') continue;
            const offset = committed?.partitions.find((p) => p.partition === end.partition)?.offset;
            if (offset !== end.high) return false;
          }
        }
        return true;
      },
      60_000,
      250,
    );
  } finally {
    await admin.disconnect();
  }
}

describe('projector', () => {
  let topics: TestTopics;
  let database: TestDatabase;
  let router: RunningRouter;
  let projectorGroupId: string;
  let captured: CapturedLogger;
  let producer: Producer;
  let shop: SeededAccount;
  const payloads = new MetaPayloads({ seed: 303 });
  const customer1 = payloads.nextId();
  const customer2 = payloads.nextId();
  const customer3 = payloads.nextId();

  beforeAll(async () => {
    [topics, database] = await Promise.all([
      createTestTopics('projector'),
      createTestDatabase('projector'),
    ]);
    shop = await seedAccount(database.db, { ig_business_id: payloads.nextId(), username: 'shop' });
    captured = captureLogger('router', 'info');
    const config = routerTestConfig({
      prefix: topics.prefix,
      databaseUrl: database.url,
      extra: { PROJECTOR_ENABLED: 'true' },
    });
    projectorGroupId = config.PROJECTOR_GROUP_ID;
    router = await startRouter(config, { logger: captured.logger });
    producer = createIdempotentProducer(topics.kafka);
    await producer.connect();
  });

  afterAll(async () => {
    await producer?.disconnect();
    await router?.stop();
    await database?.drop();
    await topics?.cleanup();
  });

  const deliver = (entry: Omit<WebhookEntryInput, 'id'>) =>
    toMetaJson(webhookBody({ entries: [{ id: shop.ig_business_id, ...entry }] }));
  const conversation = (igsid: string, offsetMs: number) => ({
    ig_business_id: shop.ig_business_id,
    igsid,
    timestamp: T0 + offsetMs,
  });

  it('builds igsids and messages from events and send results', async () => {
    const bodies = [
      deliver({
        messaging: [
          payloads.textMessage({
            ...conversation(customer1, 1_000),
            text: 'first',
            mid: 'mid-first',
          }),
          payloads.textMessage({
            ...conversation(customer1, 5_000),
            text: 'second',
            mid: 'mid-second',
          }),
        ],
      }),
      deliver({
        messaging: [
          payloads.echo({ ...conversation(customer1, 6_000), text: 'reply', mid: 'mid-reply' }),
        ],
      }),
      deliver({
        messaging: [
          payloads.deletedMessage({ ...conversation(customer1, 7_000), mid: 'mid-first' }),
        ],
      }),
      // Meta does not keep order: this deletion arrives before the message it deletes.
      deliver({
        messaging: [
          payloads.deletedMessage({ ...conversation(customer2, 2_000), mid: 'mid-unsent' }),
        ],
      }),
      deliver({
        messaging: [
          payloads.textMessage({
            ...conversation(customer2, 1_000),
            text: 'oops',
            mid: 'mid-unsent',
          }),
        ],
      }),
      // An older message delivered late moves first_seen_at back but not last_inbound_at.
      deliver({
        messaging: [
          payloads.textMessage({ ...conversation(customer1, 500), text: 'late', mid: 'mid-late' }),
        ],
      }),
      deliver({
        messaging: [payloads.reaction({ ...conversation(customer3, 8_000), mid: 'mid-reply' })],
      }),
    ];
    await produceRaw(producer, topics.names.raw, bodies);

    const sent: SendResult = {
      command_id: 'cmd-sent-1',
      ig_business_id: shop.ig_business_id,
      recipient_id: customer1,
      status: 'sent',
      message_id: 'mid-outbound-1',
      error: null,
      attempts: 1,
      created_at: at(9_000).toISOString(),
      completed_at: at(9_500).toISOString(),
    };
    const failed: SendResult = {
      ...sent,
      command_id: 'cmd-failed-1',
      status: 'failed',
      message_id: undefined,
      error: {
        code: 551,
        subcode: null,
        type: 'OAuthException',
        message: 'unavailable',
        classification: 'recipient',
      },
    };
    await producer.send({
      topic: topics.names.outboundResults,
      acks: -1,
      messages: [sent, failed].map((result) => ({
        key: shop.ig_business_id,
        value: JSON.stringify(result),
      })),
    });

    const model = await eventually('the read model to have every message', async () => {
      const current = await readModel(database);
      return current.messages.length >= 7 && current.igsids.length >= 3 ? current : undefined;
    });

    const rows = model.messages.map((row) => [
      row.igsid,
      row.direction,
      row.mid,
      row.text,
      row.event_type,
      (row.occurred_at as Date).toISOString(),
      row.deleted,
    ]);
    expect(rows).toEqual([
      [customer1, 'inbound', 'mid-late', 'late', 'message.received', at(500).toISOString(), false],
      [
        customer1,
        'inbound',
        'mid-first',
        'first',
        'message.received',
        at(1_000).toISOString(),
        true,
      ],
      [
        customer2,
        'inbound',
        'mid-unsent',
        'oops',
        'message.received',
        at(1_000).toISOString(),
        true,
      ],
      [customer2, 'inbound', 'mid-unsent', null, 'message.deleted', at(2_000).toISOString(), true],
      [
        customer1,
        'inbound',
        'mid-second',
        'second',
        'message.received',
        at(5_000).toISOString(),
        false,
      ],
      [customer1, 'echo', 'mid-reply', 'reply', 'message.echo', at(6_000).toISOString(), false],
      [customer1, 'outbound', 'mid-outbound-1', null, 'send.sent', at(9_500).toISOString(), false],
    ]);
    expect(model.messages.every((row) => row.client_id === shop.client_id)).toBe(true);
    expect(model.messages.find((row) => row.direction === 'outbound')?.message_key).toBe(
      'cmd-sent-1',
    );

    const secondEventId = model.messages.find((row) => row.mid === 'mid-second')?.message_key;
    const igsids = model.igsids.map((row) => [
      row.igsid,
      (row.first_seen_at as Date).toISOString(),
      (row.last_inbound_at as Date | null)?.toISOString() ?? null,
      row.client_id,
    ]);
    expect(igsids).toEqual(
      [
        [customer1, at(500).toISOString(), at(5_000).toISOString(), shop.client_id],
        [customer2, at(1_000).toISOString(), at(1_000).toISOString(), shop.client_id],
        [customer3, at(8_000).toISOString(), null, shop.client_id],
      ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );
    expect(model.igsids.find((row) => row.igsid === customer1)?.last_event_id).toBe(secondEventId);
  });

  it('gives the same rows when a second group reprocesses everything', async () => {
    const config = routerTestConfig({
      prefix: topics.prefix,
      databaseUrl: database.url,
      extra: { ROUTER_ENABLED: 'false', PROJECTOR_ENABLED: 'true' },
    });
    await waitUntilCaughtUp(topics.kafka, projectorGroupId, [
      topics.names.events,
      topics.names.outboundResults,
    ]);
    const before = await readModel(database);

    const replay = await startRouter(config, {
      logger: captureLogger('router-replay', 'warn').logger,
    });
    try {
      await waitUntilCaughtUp(topics.kafka, config.PROJECTOR_GROUP_ID, [
        topics.names.events,
        topics.names.outboundResults,
      ]);
    } finally {
      await replay.stop();
    }
    expect(await readModel(database)).toEqual(before);
  });

  it('skips a record it cannot apply and applies the ones after it', async () => {
    const orphan: IgEventV1 = {
      schema: 'ig.event.v1',
      event_id: '7d0c3f86-7f4e-5b54-9a39-0f1f2a3b4c5d',
      type: 'message.received',
      platform: 'instagram',
      ig_business_id: '17841400999999999',
      client_id: '00000000-0000-4000-8000-000000000000',
      account_name: 'deleted_account',
      sender_id: customer3,
      recipient_id: '17841400999999999',
      occurred_at: at(10_000).toISOString(),
      received_at: at(10_000).toISOString(),
      payload: { mid: 'mid-orphan', text: 'nobody home', attachments: [] },
      raw: {},
      source: {
        topic: topics.names.raw,
        partition: 0,
        offset: '0',
        entry_index: 0,
        item_index: 0,
        field: 'messaging',
      },
    };
    const [metadata] = await producer.send({
      topic: topics.names.events,
      acks: -1,
      messages: [{ key: shop.ig_business_id, value: JSON.stringify(orphan) }],
    });
    await produceRaw(producer, topics.names.raw, [
      deliver({
        messaging: [
          payloads.textMessage({
            ...conversation(customer3, 11_000),
            text: 'after',
            mid: 'mid-after',
          }),
        ],
      }),
    ]);

    await eventually('the message after the skipped record', async () => {
      const model = await readModel(database);
      return model.messages.some((row) => row.mid === 'mid-after');
    });
    const skipped = captured
      .records()
      .find((line) => line.msg === 'projector skipped a record it cannot apply');
    expect(skipped).toMatchObject({
      topic: topics.names.events,
      partition: metadata?.partition,
      offset: metadata?.baseOffset,
      reason: 'sqlstate_23503',
    });
    const model = await readModel(database);
    expect(model.messages.some((row) => row.mid === 'mid-orphan')).toBe(false);
    const counted = (await router.metrics.projectorRecords.get()).values.find(
      (value) => value.labels.outcome === 'skipped',
    );
    expect(counted?.value).toBe(1);
  });
});
