import {
  createIdempotentProducer,
  type DlqRecord,
  type IgEventV1,
  type UnroutedRecord,
} from '@ig-router/core';
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
import kafkajs, { type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningRouter } from '../src/service.js';
import { startRouter } from '../src/service.js';
import {
  collectTopics,
  eventsFrom,
  headerText,
  parseValue,
  produceRaw,
  routerTestConfig,
  type SeededAccount,
  seedAccount,
  type TopicCollector,
} from './helpers.js';

const { Partitioners } = kafkajs;

const fieldOrder = { messaging: 0, changes: 1, standby: 2 } as const;

describe('router ig.raw pipeline', () => {
  let topics: TestTopics;
  let database: TestDatabase;
  let router: RunningRouter;
  let captured: CapturedLogger;
  let producer: Producer;
  let collector: TopicCollector;
  const payloads = new MetaPayloads({ seed: 101 });
  let alpha: SeededAccount;
  let beta: SeededAccount;
  let dormant: SeededAccount;

  beforeAll(async () => {
    [topics, database] = await Promise.all([
      createTestTopics('router'),
      createTestDatabase('router'),
    ]);
    alpha = await seedAccount(database.db, {
      ig_business_id: payloads.nextId(),
      username: 'alpha_shop',
      clientName: 'alpha agency client',
    });
    beta = await seedAccount(database.db, {
      ig_business_id: payloads.nextId(),
      username: 'beta_store',
      clientName: 'beta agency client',
    });
    dormant = await seedAccount(database.db, {
      ig_business_id: payloads.nextId(),
      username: 'dormant',
      active: false,
    });

    captured = captureLogger('router', 'info');
    const config = routerTestConfig({ prefix: topics.prefix, databaseUrl: database.url });
    router = await startRouter(config, { logger: captured.logger });
    producer = createIdempotentProducer(topics.kafka);
    await producer.connect();
    collector = await collectTopics(topics.kafka, [
      topics.names.events,
      topics.names.unrouted,
      topics.names.dlq,
    ]);
  });

  afterAll(async () => {
    await collector?.stop();
    await producer?.disconnect();
    await router?.stop();
    await database?.drop();
    await topics?.cleanup();
  });

  function waitForEvents(
    position: { partition: number; offset: string },
    count: number,
  ): Promise<IgEventV1[]> {
    return eventually(`${count} events from ig.raw offset ${position.offset}`, () => {
      const events = eventsFrom(collector.records(topics.names.events), position);
      return events.length >= count ? events : undefined;
    });
  }

  function sortedByItem(events: IgEventV1[]): IgEventV1[] {
    return [...events].sort(
      (a, b) =>
        a.source.entry_index - b.source.entry_index ||
        fieldOrder[a.source.field] - fieldOrder[b.source.field] ||
        a.source.item_index - b.source.item_index,
    );
  }

  it('routes a two-account batch into four events keyed by account', async () => {
    const customerA = payloads.nextId();
    const customerB = payloads.nextId();
    const body = toMetaJson(
      webhookBody({
        entries: [
          {
            id: alpha.ig_business_id,
            messaging: [
              payloads.textMessage({
                ig_business_id: alpha.ig_business_id,
                igsid: customerA,
                text: 'hi',
              }),
              payloads.textMessage({
                ig_business_id: alpha.ig_business_id,
                igsid: customerA,
                text: 'are you open?',
              }),
            ],
          },
          {
            id: beta.ig_business_id,
            messaging: [
              payloads.textMessage({
                ig_business_id: beta.ig_business_id,
                igsid: customerB,
                text: 'bonjour',
              }),
              payloads.attachmentMessage({
                ig_business_id: beta.ig_business_id,
                igsid: customerB,
                attachments: [payloads.attachment('image')],
              }),
            ],
          },
        ],
      }),
    );
    const receivedAtMs = Date.now();
    const [position] = await produceRaw(producer, topics.names.raw, [body], receivedAtMs);
    if (!position) throw new Error('produce returned no position');

    const events = sortedByItem(await waitForEvents(position, 4));
    expect(events).toHaveLength(4);
    expect(
      events.map((event) => [event.ig_business_id, event.client_id, event.account_name]),
    ).toEqual([
      [alpha.ig_business_id, alpha.client_id, 'alpha_shop'],
      [alpha.ig_business_id, alpha.client_id, 'alpha_shop'],
      [beta.ig_business_id, beta.client_id, 'beta_store'],
      [beta.ig_business_id, beta.client_id, 'beta_store'],
    ]);
    expect(events.map((event) => event.sender_id)).toEqual([
      customerA,
      customerA,
      customerB,
      customerB,
    ]);
    expect(events.map((event) => event.received_at)).toEqual(
      Array(4).fill(new Date(receivedAtMs).toISOString()),
    );

    const partitioner = Partitioners.DefaultPartitioner();
    const partitionMetadata = [0, 1, 2].map((partitionId) => ({
      partitionId,
      leader: 0,
      replicas: [0],
      isr: [0],
      partitionErrorCode: 0,
    }));
    const records = collector
      .records(topics.names.events)
      .filter((record) =>
        events.some((event) => event.event_id === parseValue<IgEventV1>(record).event_id),
      );
    expect(records).toHaveLength(4);
    for (const record of records) {
      const event = parseValue<IgEventV1>(record);
      expect(record.key).toBe(event.ig_business_id);
      expect(record.timestamp).toBe(String(receivedAtMs));
      expect(headerText(record.headers, 'igr-client-id')).toBe(event.client_id);
      expect(headerText(record.headers, 'igr-event-type')).toBe(event.type);
      expect(headerText(record.headers, 'igr-schema')).toBe('ig.event.v1');
      expect(record.partition).toBe(
        partitioner({
          topic: topics.names.events,
          partitionMetadata,
          message: { key: record.key, value: null },
        }),
      );
    }
  });

  it('gives each messaging, changes and standby item its type', async () => {
    const account = alpha.ig_business_id;
    const customer = payloads.nextId();
    const conversation = { ig_business_id: account, igsid: customer };
    const withUnknownAttachment = payloads.attachmentMessage({
      ...conversation,
      attachments: [{ type: 'hologram', payload: { url: 'https://cdn.example/holo' } }],
    });
    const body = toMetaJson(
      webhookBody({
        entries: [
          {
            id: account,
            messaging: [
              payloads.echo({ ...conversation, text: 'thanks for your order' }),
              payloads.reaction(conversation),
              payloads.read(conversation),
              payloads.deletedMessage(conversation),
              payloads.unsupportedMessage(conversation),
              { ...withUnknownAttachment, brand_new_field: { nested: true } },
              {
                sender: { id: customer },
                recipient: { id: account },
                timestamp: payloads.nextTimestamp(),
                teleport: {},
              },
            ],
            changes: [payloads.commentChange({ text: 'love this', igsid: customer })],
            standby: [
              payloads.textMessage({ ...conversation, text: 'while another app holds the thread' }),
            ],
          },
        ],
      }),
    );
    const [position] = await produceRaw(producer, topics.names.raw, [body]);
    if (!position) throw new Error('produce returned no position');

    const events = sortedByItem(await waitForEvents(position, 9));
    expect(events.map((event) => event.type)).toEqual([
      'message.echo',
      'message.reaction',
      'message.read',
      'message.deleted',
      'message.unsupported',
      'message.received',
      'unknown',
      'comment',
      'standby',
    ]);
    const received = events[5] as Extract<IgEventV1, { type: 'message.received' }>;
    expect(received.payload.attachments.map((attachment) => attachment.type)).toEqual(['hologram']);
    const standby = events[8] as Extract<IgEventV1, { type: 'standby' }>;
    expect(standby.payload.inner_type).toBe('message.received');
    expect(events.every((event) => event.client_id === alpha.client_id)).toBe(true);
  });

  it('normalizes seconds and milliseconds and keeps 17-digit ids exact', async () => {
    const account = '17841400000000123';
    await seedAccount(database.db, { ig_business_id: account, username: 'big_ids' });
    const comment = (commentId: string) =>
      `{"field":"comments","value":{"id":"${commentId}","from":{"id":"17841499999999999","username":"fan"},"text":"hey","media":{"id":"17900000000000002"}}}`;
    const inSeconds = `{"object":"instagram","entry":[{"id":17841400000000123,"time":1735689600,"changes":[${comment('17900000000000011')}]}]}`;
    const inMilliseconds = `{"object":"instagram","entry":[{"id":17841400000000123,"time":1735689600000,"changes":[${comment('17900000000000012')}]}]}`;
    const message = `{"object":"instagram","entry":[{"id":17841400000000123,"time":1735689600000,"messaging":[{"sender":{"id":17841499999999999},"recipient":{"id":17841400000000123},"timestamp":1735689600000,"message":{"mid":"big-id-mid","text":"exact"}}]}]}`;

    const positions = await produceRaw(producer, topics.names.raw, [
      inSeconds,
      inMilliseconds,
      message,
    ]);
    const [seconds, milliseconds, received] = await Promise.all(
      positions.map((position) => waitForEvents(position, 1)),
    );

    expect(seconds?.[0]?.occurred_at).toBe('2025-01-01T00:00:00.000Z');
    expect(milliseconds?.[0]?.occurred_at).toBe('2025-01-01T00:00:00.000Z');
    expect(seconds?.[0]?.ig_business_id).toBe('17841400000000123');
    expect(seconds?.[0]?.sender_id).toBe('17841499999999999');
    const messageEvent = received?.[0];
    expect(messageEvent?.ig_business_id).toBe('17841400000000123');
    expect(messageEvent?.sender_id).toBe('17841499999999999');
    expect(messageEvent?.recipient_id).toBe('17841400000000123');
    const raw = messageEvent?.raw as { sender: { id: unknown } } | undefined;
    expect(raw?.sender.id).toBe('17841499999999999');
  });

  it('gives the same event ids when the same body is stored twice', async () => {
    const body = toMetaJson(
      webhookBody({
        entries: [
          {
            id: beta.ig_business_id,
            messaging: [
              payloads.textMessage({
                ig_business_id: beta.ig_business_id,
                igsid: payloads.nextId(),
                text: 'retry me',
              }),
              payloads.reaction({ ig_business_id: beta.ig_business_id, igsid: payloads.nextId() }),
            ],
          },
        ],
      }),
    );
    const [first, second] = await produceRaw(producer, topics.names.raw, [body, body]);
    if (!first || !second) throw new Error('produce returned no position');

    const firstEvents = sortedByItem(await waitForEvents(first, 2));
    const secondEvents = sortedByItem(await waitForEvents(second, 2));
    expect(first.offset).not.toBe(second.offset);
    expect(secondEvents.map((event) => event.event_id)).toEqual(
      firstEvents.map((event) => event.event_id),
    );
    expect(new Set(firstEvents.map((event) => event.event_id)).size).toBe(2);
  });

  it('accounts for every unroutable and invalid record', async () => {
    const unknownAccount = payloads.nextId();
    const customer = payloads.nextId();
    const textFor = (account: string) =>
      payloads.textMessage({ ig_business_id: account, igsid: customer, text: 'hello?' });
    const bodies = [
      toMetaJson(
        webhookBody({ entries: [{ id: unknownAccount, messaging: [textFor(unknownAccount)] }] }),
      ),
      toMetaJson(
        webhookBody({
          entries: [{ id: dormant.ig_business_id, messaging: [textFor(dormant.ig_business_id)] }],
        }),
      ),
      '{"object":"instagram","entry":[{"time":1735689600000,"messaging":[]}]}',
      toMetaJson(
        webhookBody({
          entries: [
            { id: alpha.ig_business_id, messaging: [textFor(alpha.ig_business_id)] },
            { id: unknownAccount, messaging: [textFor(unknownAccount), textFor(unknownAccount)] },
          ],
        }),
      ),
      'this is not json {',
      '["an array, not an envelope"]',
      '{"object":"instagram","entry":[]}',
    ];
    const positions = await produceRaw(producer, topics.names.raw, bodies);
    const offsetsOf = (topic: string) =>
      collector.records(topic).map((record) => {
        const value = parseValue<{ source: { partition: number; offset: string } }>(record);
        return `${value.source.partition}:${value.source.offset}`;
      });
    const expected = positions.map((position) => `${position.partition}:${position.offset}`);

    await eventually('an output for every ig.raw record', () => {
      const seen = new Set([
        ...offsetsOf(topics.names.events),
        ...offsetsOf(topics.names.unrouted),
        ...offsetsOf(topics.names.dlq),
      ]);
      return expected.every((position) => seen.has(position));
    });

    const unrouted = collector.records(topics.names.unrouted).map((record) => ({
      key: record.key,
      value: parseValue<UnroutedRecord>(record),
    }));
    const unroutedAt = (index: number) =>
      unrouted
        .filter(
          ({ value }) => `${value.source.partition}:${value.source.offset}` === expected[index],
        )
        .map(({ key, value }) => [key, value.reason, value.entry_id, value.source.entry_index]);
    expect(unroutedAt(0)).toEqual([[unknownAccount, 'unknown_account', unknownAccount, 0]]);
    expect(unroutedAt(1)).toEqual([
      [dormant.ig_business_id, 'inactive_account', dormant.ig_business_id, 0],
    ]);
    expect(unroutedAt(2)).toEqual([[null, 'missing_account_id', null, 0]]);
    expect(unroutedAt(3)).toEqual([[unknownAccount, 'unknown_account', unknownAccount, 1]]);

    const mixedPosition = positions[3];
    if (!mixedPosition) throw new Error('missing position');
    const mixedEvents = await waitForEvents(mixedPosition, 1);
    expect(mixedEvents.map((event) => event.ig_business_id)).toEqual([alpha.ig_business_id]);
    const unroutedEntry = unrouted.find(
      ({ value }) => `${value.source.partition}:${value.source.offset}` === expected[3],
    )?.value.entry as { messaging: unknown[] };
    expect(unroutedEntry.messaging).toHaveLength(2);

    const deadLetters = collector.records(topics.names.dlq).map((record) => ({
      record,
      value: parseValue<DlqRecord>(record),
    }));
    const deadLetterAt = (index: number) =>
      deadLetters.find(
        ({ value }) => `${value.source.partition}:${value.source.offset}` === expected[index],
      );
    expect(deadLetterAt(4)?.value.reason).toBe('invalid_json');
    expect(Buffer.from(deadLetterAt(4)?.value.raw_base64 ?? '', 'base64').toString('utf8')).toBe(
      'this is not json {',
    );
    expect(deadLetterAt(4)?.record.key).toBeNull();
    expect(headerText(deadLetterAt(4)?.record.headers ?? {}, 'x-hub-signature-256')).toMatch(
      /^sha256=[0-9a-f]{64}$/,
    );
    expect(deadLetterAt(5)?.value.reason).toBe('not_meta_envelope');
    expect(deadLetterAt(6)?.value.reason).toBe('no_events');

    const dlqLog = captured
      .records()
      .find(
        (line) =>
          line.msg === 'ig.raw record written to ig.dlq' &&
          line.partition === positions[4]?.partition &&
          line.offset === positions[4]?.offset,
      );
    expect(dlqLog).toMatchObject({
      topic: topics.names.raw,
      partition: positions[4]?.partition,
      reason: 'invalid_json',
    });
  });

  it('stops routing a deactivated account within 5 seconds', async () => {
    const account = await seedAccount(database.db, {
      ig_business_id: payloads.nextId(),
      username: 'leaving',
    });
    const bodyFor = () =>
      toMetaJson(
        webhookBody({
          entries: [
            {
              id: account.ig_business_id,
              messaging: [
                payloads.textMessage({
                  ig_business_id: account.ig_business_id,
                  igsid: payloads.nextId(),
                  text: 'still there?',
                }),
              ],
            },
          ],
        }),
      );
    const [before] = await produceRaw(producer, topics.names.raw, [bodyFor()]);
    if (!before) throw new Error('missing position');
    await waitForEvents(before, 1);

    await database.db
      .updateTable('ig_accounts')
      .set({ active: false })
      .where('ig_business_id', '=', account.ig_business_id)
      .execute();
    const deactivatedAt = Date.now();

    // Deliveries keep arriving; the first one routed to unrouted marks the moment it took effect.
    let stoppedAt: number | undefined;
    while (stoppedAt === undefined && Date.now() - deactivatedAt < 15_000) {
      const producedAt = Date.now();
      const [position] = await produceRaw(producer, topics.names.raw, [bodyFor()]);
      if (!position) throw new Error('missing position');
      const outcome = await eventually('an output for the delivery', () => {
        const matches = (topic: string) =>
          collector.records(topic).some((record) => {
            const value = parseValue<{ source: { partition: number; offset: string } }>(record);
            return (
              value.source.partition === position.partition &&
              value.source.offset === position.offset
            );
          });
        if (matches(topics.names.unrouted)) return 'unrouted';
        if (matches(topics.names.events)) return 'events';
        return undefined;
      });
      if (outcome === 'unrouted') stoppedAt = producedAt;
    }
    expect(stoppedAt).toBeDefined();
    expect((stoppedAt as number) - deactivatedAt).toBeLessThan(5_000);
  });

  it('counts committed records, events, unrouted entries and dead letters', async () => {
    const values = async (name: string) =>
      (await router.registry.getSingleMetric(name)?.get())?.values ?? [];
    await eventually(
      'metrics for the records so far',
      async () => (await values('igr_router_dlq_total')).length > 0,
    );
    const recordsIn = (await values('igr_router_records_in_total')).reduce(
      (sum, v) => sum + v.value,
      0,
    );
    expect(recordsIn).toBeGreaterThanOrEqual(15);
    const eventsOut = await values('igr_router_events_out_total');
    expect(eventsOut.find((v) => v.labels.type === 'message.received')?.value).toBeGreaterThan(0);
    const unrouted = await values('igr_router_unrouted_total');
    expect(
      unrouted.find((v) => v.labels.reason === 'unknown_account')?.value,
    ).toBeGreaterThanOrEqual(2);
    const dlq = await values('igr_router_dlq_total');
    expect(dlq.find((v) => v.labels.reason === 'invalid_json')?.value).toBe(1);
    const transactions = await values('igr_router_transactions_total');
    expect(transactions.find((v) => v.labels.outcome === 'commit')?.value).toBeGreaterThan(0);
    expect(captured.text()).not.toContain(new URL(database.url).password);
  });
});
