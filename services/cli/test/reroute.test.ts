import { randomBytes, randomInt } from 'node:crypto';
import {
  createIdempotentProducer,
  eventMessage,
  type IgEventV1,
  igEventV1Schema,
  type RawRecord,
  routeEvent,
  splitDelivery,
  unroutedMessage,
} from '@ig-router/core';
import {
  createTestDatabase,
  createTestTopics,
  MetaPayloads,
  readTopic,
  type TestDatabase,
  type TestTopics,
  webhookBody,
} from '@ig-router/testkit';
import type { Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, cliEnv, runInProcess } from './helpers.js';

const payloads = new MetaPayloads({ seed: 6161 });

/** Returns a random 17-digit Instagram account id, so runs never share accounts. */
function newAccountId(): string {
  return `178414${randomInt(10_000_000_000, 100_000_000_000)}`;
}

interface RerouteSummary {
  target_topic: string;
  complete: boolean;
  event_ids_in_target: number | null;
  raw: {
    records_read: number;
    events_written: number;
    events_already_written: number;
    entries_still_unrouted: number;
    still_unrouted_by_reason: Record<string, number>;
    still_unrouted_accounts: Array<{ ig_business_id: string; reason: string; entries: number }>;
    dead_letters_skipped: number;
  } | null;
  unrouted: {
    records_read: number;
    events_written: number;
    events_already_written: number;
    entries_still_unrouted: number;
    still_unrouted_by_reason: Record<string, number>;
    invalid_records: number;
  } | null;
}

/** An `ig.raw` record as written, for building what the router wrote for it. */
interface StoredRaw {
  record: RawRecord;
  body: Buffer;
}

describe('igr reroute', () => {
  let topics: TestTopics;
  let db: TestDatabase;
  let producer: Producer;
  let env: NodeJS.ProcessEnv;
  let clientId = '';
  const activeAccount = newAccountId();
  const lateAccount = newAccountId();
  const base = Date.now() - 30 * 60_000;
  const range = [
    '--from',
    new Date(base).toISOString(),
    '--to',
    new Date(base + 10_000).toISOString(),
  ];
  /** Events of the late account that the raw records of the range hold, by event_id. */
  const lateEvents = new Map<string, IgEventV1>();
  let activeEventId = '';
  const ownTopics: string[] = [];

  async function igr(argv: string[], stdin = ''): Promise<CliRun> {
    return runInProcess(argv, env, stdin);
  }

  async function reroute(argv: string[]): Promise<RerouteSummary> {
    const run = await igr(['reroute', ...argv, '--json']);
    expect(run.code, run.stderr).toBe(0);
    return JSON.parse(run.stdout) as RerouteSummary;
  }

  async function endOffsetSum(topic: string): Promise<bigint> {
    const offsets = await topics.admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, entry) => sum + BigInt(entry.high), 0n);
  }

  async function addAccount(igBusinessId: string, username: string): Promise<void> {
    const run = await igr(
      [
        'accounts',
        'add',
        '--client',
        clientId,
        '--ig-id',
        igBusinessId,
        '--username',
        username,
        '--token-stdin',
      ],
      `EAAG${randomBytes(16).toString('hex')}`,
    );
    expect(run.code, run.stderr).toBe(0);
  }

  async function writeRaw(body: Buffer, key: string | null, timestamp: number): Promise<StoredRaw> {
    const [metadata] = await producer.send({
      topic: topics.names.raw,
      messages: [{ key, value: body, timestamp: String(timestamp) }],
    });
    if (!metadata?.baseOffset) throw new Error('the raw record got no offset');
    const record: RawRecord = {
      source: {
        topic: topics.names.raw,
        partition: metadata.partition,
        offset: metadata.baseOffset,
        receivedAt: new Date(timestamp),
      },
      key: key === null ? null : Buffer.from(key),
      value: body,
      timestamp: String(timestamp),
      headers: {},
    };
    return { record, body };
  }

  /** Writes what the router wrote for a raw record while only `activeAccount` existed. */
  async function writeRouterOutputs(stored: StoredRaw): Promise<void> {
    const split = splitDelivery(stored.body, stored.record.source);
    if (split.kind !== 'envelope') return;
    for (const entry of split.entries) {
      if (entry.entryId === activeAccount) {
        for (const unrouted of entry.events) {
          const event = routeEvent(unrouted, { client_id: clientId, account_name: 'active_one' });
          activeEventId = event.event_id;
          await producer.send({
            topic: topics.names.events,
            messages: [eventMessage(event, stored.record)],
          });
        }
        continue;
      }
      await producer.send({
        topic: topics.names.unrouted,
        messages: [unroutedMessage(entry, 'unknown_account', stored.record)],
      });
      for (const unrouted of entry.events) {
        const event = routeEvent(unrouted, { client_id: clientId, account_name: 'late_one' });
        lateEvents.set(event.event_id, event);
      }
    }
  }

  beforeAll(async () => {
    topics = await createTestTopics('cli-reroute');
    db = await createTestDatabase('cli-reroute');
    producer = createIdempotentProducer(topics.kafka);
    await producer.connect();
    env = cliEnv({ DATABASE_URL: db.url, TOPIC_PREFIX: topics.prefix });

    const client = await igr(['clients', 'create', '--name', 'Reroute Test', '--json']);
    expect(client.code, client.stderr).toBe(0);
    clientId = (JSON.parse(client.stdout) as { client_id: string }).client_id;
    await addAccount(activeAccount, 'active_one');

    const text = (account: string, words: string) =>
      payloads.textMessage({ ig_business_id: account, igsid: '5566778899', text: words });
    const mixed = webhookBody({
      entries: [
        { id: activeAccount, messaging: [text(activeAccount, 'for the active account')] },
        { id: lateAccount, messaging: [text(lateAccount, 'late one')] },
      ],
    });
    // Meta sends ids as JSON numbers; this body keeps the late account's id a 17-digit number.
    const twoItems = JSON.stringify(
      webhookBody({
        entries: [
          {
            id: lateAccount,
            messaging: [text(lateAccount, 'late two'), text(lateAccount, 'late three')],
          },
        ],
      }),
    ).replace(`"id":"${lateAccount}"`, `"id":${lateAccount}`);
    const outside = webhookBody({
      entries: [{ id: lateAccount, messaging: [text(lateAccount, 'after the range')] }],
    });

    const stored = [
      await writeRaw(Buffer.from(JSON.stringify(mixed)), activeAccount, base),
      await writeRaw(Buffer.from(twoItems), lateAccount, base + 1_000),
    ];
    await writeRaw(Buffer.from('not json {'), null, base + 2_000);
    await writeRaw(Buffer.from(JSON.stringify(outside)), lateAccount, base + 60_000);
    for (const raw of stored) await writeRouterOutputs(raw);
  });

  afterAll(async () => {
    await producer?.disconnect();
    if (ownTopics.length > 0)
      await topics?.admin.deleteTopics({ topics: ownTopics }).catch(() => {});
    await topics?.cleanup();
    await db?.drop();
  });

  it('writes nothing for an account that is still unknown', async () => {
    const before = await endOffsetSum(topics.names.events);
    const summary = await reroute(range);

    expect(summary.complete).toBe(true);
    expect(summary.target_topic).toBe(topics.names.events);
    expect(summary.event_ids_in_target).toBe(1);
    expect(summary.raw).toMatchObject({
      records_read: 3,
      events_written: 0,
      events_already_written: 1,
      entries_still_unrouted: 2,
      still_unrouted_by_reason: { unknown_account: 2, inactive_account: 0, missing_account_id: 0 },
      still_unrouted_accounts: [
        { ig_business_id: lateAccount, reason: 'unknown_account', entries: 2 },
      ],
      dead_letters_skipped: 1,
    });
    expect(summary.unrouted).toMatchObject({
      records_read: 2,
      events_written: 0,
      entries_still_unrouted: 2,
      invalid_records: 0,
    });
    expect(await endOffsetSum(topics.names.events)).toBe(before);
  });

  it('writes the events once the account is onboarded', async () => {
    await addAccount(lateAccount, 'late_one');
    const before = await endOffsetSum(topics.names.events);
    const summary = await reroute(range);

    expect(summary.raw).toMatchObject({
      records_read: 3,
      events_written: 3,
      events_already_written: 1,
      entries_still_unrouted: 0,
      dead_letters_skipped: 1,
    });
    // The drain builds the same event_ids from the stored entries, so it writes none again.
    expect(summary.unrouted).toMatchObject({
      records_read: 2,
      events_written: 0,
      events_already_written: 3,
      entries_still_unrouted: 0,
    });
    expect(await endOffsetSum(topics.names.events)).toBe(before + 3n);

    const records = await readTopic(topics.kafka, topics.names.events, {
      until: (read) => read.filter((record) => record.key === lateAccount).length >= 3,
    });
    const late = records.filter((record) => record.key === lateAccount);
    expect(late).toHaveLength(3);
    const events = late.map((record) =>
      igEventV1Schema.parse(JSON.parse(record.value?.toString('utf8') ?? '')),
    );
    expect(events.map((event) => event.event_id).sort()).toEqual([...lateEvents.keys()].sort());
    for (const event of events) {
      const expected = lateEvents.get(event.event_id);
      expect(event.client_id).toBe(clientId);
      expect(event.account_name).toBe('late_one');
      expect(event.ig_business_id).toBe(lateAccount);
      expect(event.source).toEqual(expected?.source);
      expect(event.received_at).toBe(expected?.received_at);
    }
    const timestamps = late.map((record) => Number(record.timestamp)).sort();
    expect(timestamps).toEqual([base, base + 1_000, base + 1_000]);
  });

  it('writes nothing new when run again', async () => {
    const before = await endOffsetSum(topics.names.events);
    const run = await igr(['reroute', ...range]);

    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(
      'ig.raw: 3 records read, 0 events written, 4 already written, 0 entries still unrouted, 1 dead letters skipped',
    );
    expect(run.stdout).toContain('ig.events.unrouted: 2 records read, 0 events written');
    expect(run.stderr).toContain('reroute ig.raw: ');
    expect(await endOffsetSum(topics.names.events)).toBe(before);
  });

  it('drains an unrouted entry whose ig.raw record is gone', async () => {
    const drained = newAccountId();
    await addAccount(drained, 'drained_one');
    const deactivate = await igr(['accounts', 'deactivate', drained]);
    expect(deactivate.code, deactivate.stderr).toBe(0);

    const at = base + 20_000;
    const body = Buffer.from(
      JSON.stringify(
        webhookBody({
          entries: [
            { id: activeAccount, messaging: [] },
            { id: activeAccount, messaging: [] },
            {
              id: drained,
              messaging: [
                payloads.textMessage({ ig_business_id: drained, igsid: '42', text: 'drain me' }),
              ],
            },
          ],
        }),
      ),
    );
    // A raw position that was never written, as after ig.raw retention deleted the record.
    const record: RawRecord = {
      source: { topic: topics.names.raw, partition: 0, offset: '999999', receivedAt: new Date(at) },
      key: null,
      value: body,
      timestamp: String(at),
      headers: {},
    };
    const split = splitDelivery(body, record.source);
    if (split.kind !== 'envelope') throw new Error('test body did not split');
    const entry = split.entries[2];
    const expected = entry?.events[0];
    if (!entry || !expected) throw new Error('test body gave no event');
    await producer.send({
      topic: topics.names.unrouted,
      messages: [unroutedMessage(entry, 'inactive_account', record)],
    });
    const drainRange = [
      '--from',
      new Date(at).toISOString(),
      '--to',
      new Date(at + 1_000).toISOString(),
      '--only',
      'unrouted',
      '--account',
      drained,
    ];

    const inactive = await reroute(drainRange);
    expect(inactive.raw).toBeNull();
    expect(inactive.unrouted).toMatchObject({
      records_read: 1,
      events_written: 0,
      still_unrouted_by_reason: { inactive_account: 1 },
    });

    const activate = await igr(['accounts', 'activate', drained]);
    expect(activate.code, activate.stderr).toBe(0);
    const first = await reroute(drainRange);
    expect(first.unrouted).toMatchObject({ records_read: 1, events_written: 1 });

    const records = await readTopic(topics.kafka, topics.names.events, {
      until: (read) => read.some((read_) => read_.key === drained),
    });
    const written = records.filter((read) => read.key === drained);
    expect(written).toHaveLength(1);
    const event = igEventV1Schema.parse(JSON.parse(written[0]?.value?.toString('utf8') ?? ''));
    expect(event.event_id).toBe(expected.event_id);
    expect(event.platform).toBe('instagram');
    expect(event.account_name).toBe('drained_one');
    expect(event.source).toEqual({ ...expected.source, entry_index: 2 });
    expect(written[0]?.timestamp).toBe(String(at));

    const second = await reroute(drainRange);
    expect(second.unrouted).toMatchObject({ events_written: 0, events_already_written: 1 });
  });

  it('writes to a topic of its own with --target-topic', async () => {
    const target = `${topics.prefix}reroute-check`;
    ownTopics.push(target);
    await topics.admin.createTopics({
      topics: [{ topic: target, numPartitions: 3, replicationFactor: 1 }],
      waitForLeaders: true,
    });
    const options = [...range, '--only', 'raw', '--target-topic', target];

    const dryRun = await reroute([...options, '--dry-run']);
    expect(dryRun.event_ids_in_target).toBe(0);
    expect(dryRun.raw).toMatchObject({ events_written: 4 });
    expect(await endOffsetSum(target)).toBe(0n);

    const written = await reroute(options);
    expect(written.raw).toMatchObject({ events_written: 4, events_already_written: 0 });
    expect(await endOffsetSum(target)).toBe(4n);
    const records = await readTopic(topics.kafka, target, { until: (read) => read.length >= 4 });
    const ids = records.map(
      (record) => igEventV1Schema.parse(JSON.parse(record.value?.toString('utf8') ?? '')).event_id,
    );
    expect(ids.sort()).toEqual([activeEventId, ...lateEvents.keys()].sort());

    const rewrite = await reroute([...options, '--rewrite', '--account', activeAccount]);
    expect(rewrite.event_ids_in_target).toBeNull();
    expect(rewrite.raw).toMatchObject({ events_written: 1, entries_still_unrouted: 0 });
    expect(await endOffsetSum(target)).toBe(5n);
  });

  it('names a target topic that does not exist', async () => {
    const missing = `${topics.prefix}no-such-topic`;
    const run = await igr(['reroute', ...range, '--target-topic', missing]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`target topic ${missing} does not exist`);
  });

  it.each([
    [['--target-topic', 'ig.dlq'], '--target-topic "ig.dlq" is the ig.dlq topic'],
    [['--only', 'both'], '--only "both" is invalid'],
    [['--account', 'acme'], '--account "acme" is not an Instagram account id'],
    [['--skew', '5'], '--skew "5" is invalid'],
  ])('rejects %j with exit code 64', async (extra, message) => {
    const run = await igr(['reroute', ...range, ...extra]);
    expect(run.code).toBe(64);
    expect(run.stderr).toContain(message);
  });

  it('rejects a missing --from with exit code 64', async () => {
    const run = await igr(['reroute', '--to', 'now']);
    expect(run.code).toBe(64);
    expect(run.stderr).toContain('--from is missing');
  });
});
