import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createIdempotentProducer,
  type IgEventV1,
  igEventV1Schema,
  routeEvent,
  sendCommandSchema,
  splitDelivery,
  topicCatalogue,
} from '@ig-router/core';
import {
  createTestTopics,
  eventually,
  MetaPayloads,
  metaDelivery,
  readTopic,
  type TestTopics,
  uniqueId,
  webhookBody,
} from '@ig-router/testkit';
import type { Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, runInProcess, startCli } from './helpers.js';

const ACCOUNT_A = '17841400000111001';
const ACCOUNT_B = '17841400000111002';
const APP_SECRET = `default-secret-${randomBytes(8).toString('hex')}`;
const NAMED_APP_SECRET = `brand2-secret-${randomBytes(8).toString('hex')}`;

const payloads = new MetaPayloads({ seed: 4242 });

/** Builds the ig.event.v1 value the router would write for one text message. */
function textEvent(account: string, text: string, receivedAt: Date, offset: number): IgEventV1 {
  const body = webhookBody({
    entries: [
      {
        id: account,
        messaging: [payloads.textMessage({ ig_business_id: account, igsid: '5566778899', text })],
      },
    ],
  });
  const split = splitDelivery(Buffer.from(JSON.stringify(body)), {
    topic: 'ig.raw',
    partition: 0,
    offset: String(offset),
    receivedAt,
  });
  if (split.kind !== 'envelope') throw new Error(`test body did not split: ${split.error}`);
  const event = split.entries[0]?.events[0];
  if (!event) throw new Error('test body gave no event');
  return routeEvent(event, {
    client_id: '00000000-0000-4000-8000-000000000001',
    account_name: 'acme',
  });
}

function echoEvent(account: string, receivedAt: Date, offset: number): IgEventV1 {
  const body = webhookBody({
    entries: [
      {
        id: account,
        messaging: [payloads.echo({ ig_business_id: account, igsid: '5566778899', text: 'echo' })],
      },
    ],
  });
  const split = splitDelivery(Buffer.from(JSON.stringify(body)), {
    topic: 'ig.raw',
    partition: 0,
    offset: String(offset),
    receivedAt,
  });
  if (split.kind !== 'envelope') throw new Error('test body did not split');
  const event = split.entries[0]?.events[0];
  if (!event) throw new Error('test body gave no event');
  return routeEvent(event, {
    client_id: '00000000-0000-4000-8000-000000000001',
    account_name: 'acme',
  });
}

describe('igr Kafka commands', () => {
  let topics: TestTopics;
  let producer: Producer;
  let env: NodeJS.ProcessEnv;
  let appsFile: string;

  beforeAll(async () => {
    topics = await createTestTopics('cli-kafka');
    producer = createIdempotentProducer(topics.kafka);
    await producer.connect();
    const dir = mkdtempSync(join(tmpdir(), 'igr-test-'));
    appsFile = join(dir, 'apps.json');
    writeFileSync(
      appsFile,
      JSON.stringify([{ name: 'brand2', app_secret: NAMED_APP_SECRET, verify_token: 'verify-2' }]),
    );
    env = cliEnv({
      TOPIC_PREFIX: topics.prefix,
      META_APP_SECRET: APP_SECRET,
      META_APPS_FILE: appsFile,
    });
  });

  afterAll(async () => {
    await producer?.disconnect();
    await topics?.cleanup();
  });

  describe('topics', () => {
    const prefix = `t.${uniqueId('cli-apply')}.`;
    const small = {
      TOPIC_PREFIX: prefix,
      RAW_PARTITIONS: '1',
      EVENTS_PARTITIONS: '1',
      OUTBOUND_PARTITIONS: '1',
    };

    afterAll(async () => {
      const names = topicCatalogue({ prefix }).map((spec) => spec.name);
      await topics.admin.deleteTopics({ topics: names }).catch(() => {});
    });

    it('apply creates the catalogue and changes nothing the second time', async () => {
      const first = await runInProcess(['topics', 'apply', '--json'], { ...env, ...small });
      expect(first.code, first.stderr).toBe(0);
      expect((JSON.parse(first.stdout) as { created: string[] }).created).toHaveLength(7);

      const second = await runInProcess(['topics', 'apply', '--json'], { ...env, ...small });
      expect(second.code, second.stderr).toBe(0);
      const report = JSON.parse(second.stdout) as {
        created: string[];
        updated: unknown[];
        unchanged: string[];
      };
      expect(report.created).toEqual([]);
      expect(report.updated).toEqual([]);
      expect(report.unchanged).toHaveLength(7);
    });

    it('apply exits 1 on a partition count that differs', async () => {
      const run = await runInProcess(['topics', 'apply'], {
        ...env,
        ...small,
        OUTBOUND_PARTITIONS: '2',
      });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(
        `${prefix}ig.outbound has 1 partitions, the catalogue expects 2`,
      );
    });

    it('list shows partitions, configs and end offsets', async () => {
      // A producer of its own: kafkajs keeps refreshing metadata of every topic a producer
      // wrote to, and these topics are deleted before the shared producer is done.
      const ownProducer = createIdempotentProducer(topics.kafka);
      await ownProducer.connect();
      await ownProducer.send({
        topic: `${prefix}ig.events`,
        messages: [{ key: ACCOUNT_A, value: '{}' }],
      });
      await ownProducer.disconnect();
      const run = await runInProcess(['topics', 'list', '--json'], {
        ...env,
        TOPIC_PREFIX: prefix,
      });
      expect(run.code, run.stderr).toBe(0);
      const listing = JSON.parse(run.stdout) as Array<{
        topic: string;
        partitions: number;
        configs: Record<string, string | null>;
        end_offsets: Array<{ partition: number; end: string }>;
      }>;
      const events = listing.find((entry) => entry.topic === `${prefix}ig.events`);
      expect(events?.partitions).toBe(1);
      expect(events?.end_offsets).toEqual([{ partition: 0, start: '0', end: '1' }]);
      const circuit = listing.find((entry) => entry.topic === `${prefix}ig.circuit`);
      expect(circuit?.configs['cleanup.policy']).toBe('compact');
    });
  });

  describe('replay', () => {
    const base = Date.now() - 60 * 60_000;
    const events: IgEventV1[] = [];

    beforeAll(async () => {
      for (let i = 0; i < 10; i++) {
        const account = i % 2 === 0 ? ACCOUNT_A : ACCOUNT_B;
        const receivedAt = new Date(base + i * 60_000);
        const event = textEvent(account, `message ${i}`, receivedAt, i);
        events.push(event);
        await producer.send({
          topic: topics.names.events,
          messages: [
            { key: account, value: JSON.stringify(event), timestamp: String(receivedAt.getTime()) },
          ],
        });
      }
    });

    it('returns exactly the events of the range for the account', async () => {
      const from = new Date(base + 2 * 60_000).toISOString();
      const to = new Date(base + 7 * 60_000).toISOString();
      const run = await runInProcess(
        ['replay', '--topic', 'ig.events', '--from', from, '--to', to, '--account', ACCOUNT_A],
        env,
      );
      expect(run.code, run.stderr).toBe(0);

      const lines = run.stdout.trim().split('\n');
      const parsed = lines.map((line) => igEventV1Schema.parse(JSON.parse(line)));
      const expected = [2, 4, 6].map((i) => events[i]?.event_id);
      expect(parsed.map((event) => event.event_id).sort()).toEqual([...expected].sort());
      expect(parsed.every((event) => event.ig_business_id === ACCOUNT_A)).toBe(true);
      expect(run.stderr).toContain('replay: 3 records of');
    });

    it('writes to --out and filters by --type', async () => {
      const out = join(mkdtempSync(join(tmpdir(), 'igr-replay-')), 'events.ndjson');
      const from = new Date(base).toISOString();
      const to = new Date(base + 10 * 60_000).toISOString();
      const run = await runInProcess(
        [
          'replay',
          '--topic',
          `${topics.prefix}ig.events`,
          '--from',
          from,
          '--to',
          to,
          '--type',
          'message.received',
          '--out',
          out,
        ],
        env,
      );
      expect(run.code, run.stderr).toBe(0);
      const lines = readFileSync(out, 'utf8').trim().split('\n');
      expect(lines).toHaveLength(10);
      expect(run.stdout).toBe('');
    });

    it('writes record envelopes with --format record', async () => {
      const from = new Date(base + 9 * 60_000).toISOString();
      const to = new Date(base + 10 * 60_000).toISOString();
      const run = await runInProcess(
        ['replay', '--topic', 'ig.events', '--from', from, '--to', to, '--format', 'record'],
        env,
      );
      expect(run.code, run.stderr).toBe(0);
      const envelope = JSON.parse(run.stdout.trim()) as Record<string, unknown>;
      expect(envelope).toMatchObject({
        topic: topics.names.events,
        key: ACCOUNT_B,
        timestamp: new Date(base + 9 * 60_000).toISOString(),
      });
      expect(igEventV1Schema.parse(envelope.value).event_id).toBe(events[9]?.event_id);
    });

    it('rejects --type on topics without event types', async () => {
      const run = await runInProcess(
        ['replay', '--topic', 'ig.raw', '--from', '-1h', '--type', 'message.received'],
        env,
      );
      expect(run.code).toBe(64);
      expect(run.stderr).toContain('--type applies to ig.events only');
    });

    it('rejects a range that ends before it starts', async () => {
      const run = await runInProcess(
        ['replay', '--topic', 'ig.events', '--from', '-1h', '--to', '-2h'],
        env,
      );
      expect(run.code).toBe(64);
      expect(run.stderr).toContain('is not after --from');
    });
  });

  describe('audit verify', () => {
    const base = Date.now() - 30 * 60_000;
    let tamperedOffset = '';

    beforeAll(async () => {
      const send = async (value: Buffer, headers: Record<string, string>, timestamp: number) => {
        const [metadata] = await producer.send({
          topic: topics.names.raw,
          messages: [{ key: ACCOUNT_A, value, headers, timestamp: String(timestamp) }],
        });
        return metadata?.baseOffset ?? '';
      };
      const body = (text: string) =>
        webhookBody({
          entries: [
            {
              id: ACCOUNT_A,
              messaging: [
                payloads.textMessage({ ig_business_id: ACCOUNT_A, igsid: '5566778899', text }),
              ],
            },
          ],
        });

      for (let i = 0; i < 3; i++) {
        const delivery = metaDelivery(body(`café ${i} 🎉`), APP_SECRET);
        await send(
          delivery.body,
          { 'x-hub-signature-256': delivery.headers['x-hub-signature-256'], 'igr-app': 'default' },
          base + i * 1000,
        );
      }
      const named = metaDelivery(body('named app'), NAMED_APP_SECRET);
      await send(
        named.body,
        { 'x-hub-signature-256': named.headers['x-hub-signature-256'], 'igr-app': 'brand2' },
        base + 4000,
      );
      const unsigned = metaDelivery(body('unsigned'), APP_SECRET);
      await send(unsigned.body, { 'igr-app': 'default' }, base + 5000);

      const original = metaDelivery(body('original text'), APP_SECRET);
      const tampered = Buffer.from(
        original.body.toString('utf8').replace('original text', 'tampered text'),
      );
      tamperedOffset = await send(
        tampered,
        { 'x-hub-signature-256': original.headers['x-hub-signature-256'], 'igr-app': 'default' },
        base + 10_000,
      );
    });

    it('reports every stored record as verified', async () => {
      const run = await runInProcess(
        [
          'audit',
          'verify',
          '--from',
          new Date(base).toISOString(),
          '--to',
          new Date(base + 10_000).toISOString(),
          '--json',
        ],
        env,
      );
      expect(run.code, run.stderr).toBe(0);
      const summary = JSON.parse(run.stdout) as Record<string, unknown>;
      expect(summary).toMatchObject({
        verified: 4,
        failed: 0,
        unsigned: 1,
        verified_by_app: { default: 3, brand2: 1 },
      });
    });

    it('reports a tampered record as failed and exits 1', async () => {
      const run = await runInProcess(
        [
          'audit',
          'verify',
          '--from',
          new Date(base).toISOString(),
          '--to',
          new Date(base + 11_000).toISOString(),
        ],
        env,
      );
      expect(run.code).toBe(1);
      expect(run.stdout).toContain('4 verified, 1 failed, 1 unsigned');
      expect(run.stdout).toContain(`offset ${tamperedOffset}`);
      expect(run.stdout).toContain('signature does not match the stored body');
    });

    it('fails named-app records when META_APPS_FILE is not set', async () => {
      const run = await runInProcess(
        [
          'audit',
          'verify',
          '--from',
          new Date(base).toISOString(),
          '--to',
          new Date(base + 10_000).toISOString(),
          '--json',
        ],
        { ...env, META_APPS_FILE: '' },
      );
      // An empty META_APPS_FILE counts as unset, like every variable set to ''.
      expect(run.code).toBe(1);

      const without = { ...env };
      delete without.META_APPS_FILE;
      const second = await runInProcess(
        [
          'audit',
          'verify',
          '--from',
          new Date(base).toISOString(),
          '--to',
          new Date(base + 10_000).toISOString(),
          '--json',
        ],
        without,
      );
      expect(second.code).toBe(1);
      const summary = JSON.parse(second.stdout) as {
        failed: number;
        failures: Array<{ app: string; reason: string }>;
      };
      expect(summary.failed).toBe(1);
      expect(summary.failures[0]).toMatchObject({
        app: 'brand2',
        reason: 'no secret for app brand2; add it to META_APPS_FILE',
      });
    });

    it('never prints an app secret', async () => {
      const run = await runInProcess(
        ['audit', 'verify', '--from', new Date(base).toISOString(), '--to', 'now', '--json'],
        env,
      );
      expect(run.stdout + run.stderr).not.toContain(APP_SECRET);
      expect(run.stdout + run.stderr).not.toContain(NAMED_APP_SECRET);
    });
  });

  describe('circuit', () => {
    const state = (id: string, value: string, reason: string | null) => ({
      key: id,
      value: JSON.stringify({
        ig_business_id: id,
        state: value,
        reason,
        opened_at: value === 'closed' ? null : new Date().toISOString(),
        retry_at: null,
        failures: value === 'closed' ? 0 : 3,
        cooldown_ms: 60_000,
        updated_at: new Date().toISOString(),
      }),
    });

    it('list rebuilds the last state per account and reset closes one', async () => {
      await producer.send({
        topic: topics.names.circuit,
        messages: [
          state('17841400000222001', 'closed', null),
          state('17841400000222001', 'open', 'auth'),
          state('17841400000222002', 'half_open', 'transient'),
          state('17841400000222003', 'closed', null),
          state('17841400000222004', 'open', 'permission'),
          { key: '17841400000222004', value: null },
        ],
      });

      const run = await runInProcess(['circuit', 'list', '--json'], env);
      expect(run.code, run.stderr).toBe(0);
      const states = JSON.parse(run.stdout) as Array<{
        ig_business_id: string;
        state: string;
        reason: string | null;
      }>;
      expect(states.map((entry) => [entry.ig_business_id, entry.state, entry.reason])).toEqual([
        ['17841400000222001', 'open', 'auth'],
        ['17841400000222002', 'half_open', 'transient'],
        ['17841400000222003', 'closed', null],
      ]);

      const open = await runInProcess(['circuit', 'list', '--open', '--json'], env);
      expect((JSON.parse(open.stdout) as unknown[]).length).toBe(2);

      const reset = await runInProcess(['circuit', 'reset', '17841400000222002'], env);
      expect(reset.code, reset.stderr).toBe(0);
      const after = await runInProcess(['circuit', 'list', '--json'], env);
      const resetState = (
        JSON.parse(after.stdout) as Array<{
          ig_business_id: string;
          state: string;
          failures: number;
        }>
      ).find((entry) => entry.ig_business_id === '17841400000222002');
      expect(resetState).toMatchObject({ state: 'closed', failures: 0 });
    });

    it('reset rejects an account without a circuit', async () => {
      const reset = await runInProcess(['circuit', 'reset', '17841400000222999'], env);
      expect(reset.code).toBe(1);
      expect(reset.stderr).toContain('no circuit for account 17841400000222999');
    });
  });

  describe('send', () => {
    it('writes a validated command keyed by ig_business_id', async () => {
      const commandId = `cmd-${randomBytes(4).toString('hex')}`;
      const run = await runInProcess(
        [
          'send',
          '--account',
          ACCOUNT_A,
          '--to',
          '5566778899',
          '--text',
          'Hello',
          '--command-id',
          commandId,
          '--json',
        ],
        env,
      );
      expect(run.code, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({
        command_id: commandId,
        topic: topics.names.outbound,
      });

      const records = await readTopic(topics.kafka, topics.names.outbound, {
        until: (read) => read.some((record) => record.value?.toString('utf8').includes(commandId)),
      });
      const record = records.find((entry) => entry.value?.toString('utf8').includes(commandId));
      expect(record?.key).toBe(ACCOUNT_A);
      const command = sendCommandSchema.parse(JSON.parse(record?.value?.toString('utf8') ?? '{}'));
      expect(command).toMatchObject({
        command_id: commandId,
        ig_business_id: ACCOUNT_A,
        recipient: { id: '5566778899' },
        message: { text: 'Hello' },
      });
    });

    it('generates a UUID command_id when none is given', async () => {
      const run = await runInProcess(
        ['send', '--account', ACCOUNT_A, '--to', '5566778899', '--text', 'Hi'],
        env,
      );
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout.trim()).toMatch(
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
    });

    it('exits 64 and names the option for a text over 1000 bytes', async () => {
      const run = await runInProcess(
        ['send', '--account', ACCOUNT_A, '--to', '5566778899', '--text', 'é'.repeat(600)],
        env,
      );
      expect(run.code).toBe(64);
      expect(run.stderr).toContain('--text: is 1200 UTF-8 bytes; the maximum is 1000');
    });

    it('prints the result with --wait', async () => {
      const commandId = `wait-${randomBytes(4).toString('hex')}`;
      const cli = startCli(
        [
          'send',
          '--account',
          ACCOUNT_B,
          '--to',
          '5566778899',
          '--text',
          'Wait for me',
          '--command-id',
          commandId,
          '--wait',
          '--json',
        ],
        env,
      );

      // Acts as the sender: once the command is in ig.outbound, its result is written.
      await readTopic(topics.kafka, topics.names.outbound, {
        until: (read) => read.some((record) => record.value?.toString('utf8').includes(commandId)),
      });
      const now = new Date().toISOString();
      await producer.send({
        topic: topics.names.outboundResults,
        messages: [
          {
            key: ACCOUNT_B,
            value: JSON.stringify({
              command_id: 'other-command',
              ig_business_id: ACCOUNT_B,
              recipient_id: '1',
              status: 'failed',
              error: {
                code: 1,
                subcode: null,
                type: null,
                message: 'x',
                classification: 'transient',
              },
              attempts: 1,
              created_at: now,
              completed_at: now,
            }),
          },
          {
            key: ACCOUNT_B,
            value: JSON.stringify({
              command_id: commandId,
              ig_business_id: ACCOUNT_B,
              recipient_id: '5566778899',
              status: 'sent',
              message_id: 'mid.123',
              error: null,
              attempts: 1,
              created_at: now,
              completed_at: now,
            }),
          },
        ],
      });

      const run = await cli.done;
      expect(run.code, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({
        command_id: commandId,
        status: 'sent',
        message_id: 'mid.123',
      });
    });

    it('exits 1 when no result arrives within --timeout', async () => {
      const run = await runInProcess(
        [
          'send',
          '--account',
          ACCOUNT_A,
          '--to',
          '5566778899',
          '--text',
          'No sender',
          '--wait',
          '--timeout',
          '1s',
        ],
        env,
      );
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/no result for command .* within 1000 ms/);
    });
  });

  describe('tail', () => {
    it('follows new events of one account and type until stopped', async () => {
      const cli = startCli(
        ['tail', '--account', ACCOUNT_A, '--type', 'message.received', '--json'],
        env,
      );
      await eventually('tail to start following', () => cli.stderr().includes('following'));

      const now = Date.now();
      const first = textEvent(ACCOUNT_A, 'tail one', new Date(now), 100);
      const [metadata] = await producer.send({
        topic: topics.names.events,
        messages: [{ key: ACCOUNT_A, value: JSON.stringify(first) }],
      });
      const partition = metadata?.partition ?? 0;
      // The other account's event and the echo go to the same partition before the last
      // event, so once the last event is printed, both were read and filtered out.
      await producer.send({
        topic: topics.names.events,
        messages: [
          {
            key: ACCOUNT_B,
            partition,
            value: JSON.stringify(textEvent(ACCOUNT_B, 'other account', new Date(now), 101)),
          },
          {
            key: ACCOUNT_A,
            partition,
            value: JSON.stringify(echoEvent(ACCOUNT_A, new Date(now), 102)),
          },
        ],
      });
      const last = textEvent(ACCOUNT_A, 'tail two', new Date(now), 103);
      await producer.send({
        topic: topics.names.events,
        messages: [{ key: ACCOUNT_A, value: JSON.stringify(last) }],
      });

      await eventually('both events printed', () => cli.stdout().includes(last.event_id));
      cli.abort();
      const run = await cli.done;
      expect(run.code).toBe(0);
      const lines = run.stdout
        .trim()
        .split('\n')
        .map((line) => igEventV1Schema.parse(JSON.parse(line)));
      expect(lines.map((event) => event.event_id)).toEqual([first.event_id, last.event_id]);
    });
  });
});
