import { randomInt } from 'node:crypto';
import {
  createIdempotentProducer,
  createKmsClient,
  encryptedTokenColumns,
  type IgEventV1,
  igEventV1Schema,
  loadConfig,
  type SendCommand,
  type SendResult,
  sendResultSchema,
  TokenCrypto,
  type UnroutedRecord,
  unroutedRecordSchema,
} from '@ig-router/core';
import {
  type CapturedLogger,
  type ConsumedRecord,
  captureLogger,
  createTestDatabase,
  createTestTopics,
  eventually,
  type GraphSimulator,
  MetaPayloads,
  metaDelivery,
  type SendRequestRecord,
  serviceEnv,
  startGraphSimulator,
  type TestDatabase,
  type TestTopics,
  testEnv,
  tokenFingerprint,
  uniqueId,
  webhookBody,
} from '@ig-router/testkit';
import type { Consumer, Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAutoReply } from '../../examples/auto-reply/src/auto-reply.js';
import { gatewayConfigSchema } from '../../services/gateway/src/config.js';
import { type RunningGateway, startGateway } from '../../services/gateway/src/gateway.js';
import { routerConfigSchema } from '../../services/router/src/config.js';
import { type RunningRouter, startRouter } from '../../services/router/src/service.js';
import { senderConfigSchema } from '../../services/sender/src/config.js';
import { type RunningSender, startSender } from '../../services/sender/src/service.js';

/**
 * The whole pipeline on the test stack: signed webhooks into the gateway, the router, the
 * auto-reply example consumer, the sender and the Graph API simulator, each started in this
 * process with its own topics (fresh prefix), database and consumer groups.
 */

const APP_SECRET = 'e2e-app-secret';
const REPLY_TEXT = 'Thanks! An agent will answer soon. (e2e)';
const PARTITIONS = 3;
// Bounded waits for records and replies; a healthy run needs a few seconds.
const WAIT_MS = 40_000;

interface Account {
  ig_business_id: string;
  page_id: string;
  username: string;
  token: string;
  /** The customer writing to this account. */
  igsid: string;
}

/** Texts sent by the customers, with accents, emoji, `@` and `/`, which Meta escapes as \uXXXX. */
const TEXT_A = 'Olá! Dá para reservar às 19h30? 🍷🎉 Até já / @loja';
const TEXT_B = 'Où est ma commande ? Ça fait 3 jours 😕 — merci !';

interface Collector {
  records(topic: string): ConsumedRecord[];
  stop(): Promise<void>;
}

/** Reads `topics` from the beginning in a private consumer group (read_committed). */
async function collect(kafka: Kafka, topics: string[]): Promise<Collector> {
  const byTopic = new Map<string, ConsumedRecord[]>(topics.map((topic) => [topic, []]));
  const consumer: Consumer = kafka.consumer({
    groupId: uniqueId('e2e-collector'),
    readUncommitted: false,
    sessionTimeout: 10_000,
  });
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      byTopic.get(topic)?.push({
        topic,
        partition,
        offset: message.offset,
        key: message.key ? message.key.toString('utf8') : null,
        value: message.value,
        headers: message.headers ?? {},
        timestamp: message.timestamp,
      });
    },
  });
  return {
    records: (topic) => [...(byTopic.get(topic) ?? [])],
    stop: () => consumer.disconnect(),
  };
}

function parseValue(record: ConsumedRecord): unknown {
  return JSON.parse((record.value ?? Buffer.alloc(0)).toString('utf8'));
}

function header(record: ConsumedRecord, name: string): string | undefined {
  const value = record.headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined ? undefined : first.toString();
}

describe('pipeline end to end', () => {
  let topics: TestTopics;
  let database: TestDatabase;
  let simulator: GraphSimulator;
  let gateway: RunningGateway | undefined;
  let router: RunningRouter | undefined;
  let sender: RunningSender | undefined;
  let autoReply: { stop(): Promise<void> } | undefined;
  let collector: Collector | undefined;
  const logs: CapturedLogger[] = [];

  // A random seed gives ids that no other test file or run uses.
  const meta = new MetaPayloads({ seed: randomInt(0, 100_000), startTimeMs: Date.now() - 60_000 });
  const accountA = newAccount('a');
  const accountB = newAccount('b');
  const unknownAccountId = meta.nextId();
  let clientId: string;

  const statuses = new Map<string, number>();
  let echoMid: string;

  function newAccount(label: string): Account {
    const id = meta.nextId();
    return {
      ig_business_id: id,
      page_id: `9${id.slice(1)}`,
      username: `e2e_${label}_${id.slice(-6)}`,
      token: `EAAGe2e${uniqueId('token').replace(/-/g, '')}SECRET`,
      igsid: meta.nextId(),
    };
  }

  function events(): IgEventV1[] {
    return (collector?.records(topics.names.events) ?? []).map((record) =>
      igEventV1Schema.parse(parseValue(record)),
    );
  }

  function replies(): SendRequestRecord[] {
    return simulator
      .requests()
      .filter((request) => String(request.command_id ?? '').startsWith('auto-reply-'));
  }

  /** Inserts the client and both accounts, with KMS-encrypted tokens, and registers them in the simulator. */
  async function seedClientAndAccounts(): Promise<void> {
    const client = await database.db
      .insertInto('clients')
      .values({
        name: uniqueId('e2e-client'),
        api_key_hash: uniqueId('hash'),
        api_key_prefix: 'igr_e2e',
      })
      .returning('client_id')
      .executeTakeFirstOrThrow();
    clientId = client.client_id;
    const env = testEnv();
    const crypto = new TokenCrypto(createKmsClient(env), env.KMS_KEY_ID);
    for (const account of [accountA, accountB]) {
      const sealed = await crypto.encrypt(
        { ig_business_id: account.ig_business_id, client_id: clientId },
        account.token,
      );
      await database.db
        .insertInto('ig_accounts')
        .values({
          ig_business_id: account.ig_business_id,
          client_id: clientId,
          username: account.username,
          page_id: account.page_id,
          ...encryptedTokenColumns(sealed),
        })
        .execute();
      simulator.registerAccount({
        ig_business_id: account.ig_business_id,
        page_id: account.page_id,
        username: account.username,
        token: account.token,
      });
    }
  }

  /** Starts router, sender, gateway, the auto-reply consumer and the test's collector. */
  async function startServices(): Promise<void> {
    const baseEnv = (extra: Record<string, string>) =>
      serviceEnv({ prefix: topics.prefix, databaseUrl: database.url, extra });
    const routerLog = captureLogger('router', 'info');
    const senderLog = captureLogger('sender', 'info');
    const gatewayLog = captureLogger('gateway', 'info');
    const autoReplyLog = captureLogger('auto-reply', 'info');
    logs.push(routerLog, senderLog, gatewayLog, autoReplyLog);

    [router, sender, gateway] = await Promise.all([
      startRouter(
        loadConfig(
          routerConfigSchema,
          baseEnv({
            METRICS_PORT: '0',
            ROUTER_GROUP_ID: uniqueId('e2e-router'),
            PROJECTOR_GROUP_ID: uniqueId('e2e-projector'),
            CONSUMER_SESSION_TIMEOUT_MS: '10000',
          }),
        ),
        { logger: routerLog.logger },
      ),
      startSender(
        loadConfig(
          senderConfigSchema,
          baseEnv({
            GRAPH_API_URL: simulator.url,
            SENDER_GROUP_ID: uniqueId('e2e-sender'),
            METRICS_PORT: '0',
            CONSUMER_SESSION_TIMEOUT_MS: '10000',
          }),
        ),
        { logger: senderLog.logger },
      ),
      startGateway(
        loadConfig(
          gatewayConfigSchema,
          baseEnv({
            HOST: '127.0.0.1',
            PORT: '0',
            META_APP_SECRET: APP_SECRET,
            META_VERIFY_TOKEN: 'e2e-verify-token',
            GATEWAY_INSTANCE: 'e2e',
          }),
        ),
        { logger: gatewayLog.logger },
      ),
    ]);
    autoReply = await startAutoReply({
      kafka: topics.kafka,
      producer: createIdempotentProducer(topics.kafka),
      logger: autoReplyLog.logger,
      prefix: topics.prefix,
      groupId: uniqueId('e2e-auto-reply'),
      replyText: REPLY_TEXT,
      dedupeSize: 1_000,
    });
    collector = await collect(topics.kafka, [
      topics.names.events,
      topics.names.unrouted,
      topics.names.outbound,
      topics.names.outboundResults,
    ]);
  }

  /** Builds the webhook deliveries of the scenario, in the order they are posted. */
  function buildDeliveries(): Array<{ name: string; payload: unknown }> {
    // The echo goes first: it shares account A's partitions with A's messages, so the
    // auto-reply consumer has handled it before A's messages, and a reply to it would be in
    // ig.outbound before theirs.
    const echo = meta.echo({
      ig_business_id: accountA.ig_business_id,
      igsid: accountA.igsid,
      text: 'Sim, às 19h30 temos mesa ✅',
    });
    echoMid = String(echo.message?.mid);
    return [
      {
        name: 'echo',
        payload: webhookBody({ entries: [{ id: accountA.ig_business_id, messaging: [echo] }] }),
      },
      {
        name: 'batch of both accounts',
        payload: webhookBody({
          entries: [
            {
              id: accountA.ig_business_id,
              messaging: [
                meta.textMessage({
                  ig_business_id: accountA.ig_business_id,
                  igsid: accountA.igsid,
                  text: TEXT_A,
                }),
              ],
            },
            {
              id: accountB.ig_business_id,
              messaging: [
                meta.textMessage({
                  ig_business_id: accountB.ig_business_id,
                  igsid: accountB.igsid,
                  text: TEXT_B,
                }),
              ],
            },
          ],
        }),
      },
      {
        name: 'story mention',
        payload: webhookBody({
          entries: [
            {
              id: accountA.ig_business_id,
              messaging: [
                meta.attachmentMessage({
                  ig_business_id: accountA.ig_business_id,
                  igsid: accountA.igsid,
                  attachments: [meta.attachment('story_mention')],
                }),
              ],
            },
          ],
        }),
      },
      {
        name: 'reaction',
        payload: webhookBody({
          entries: [
            {
              id: accountB.ig_business_id,
              messaging: [
                meta.reaction({ ig_business_id: accountB.ig_business_id, igsid: accountB.igsid }),
              ],
            },
          ],
        }),
      },
      {
        name: 'comment under changes',
        payload: webhookBody({
          entries: [
            {
              id: accountB.ig_business_id,
              changes: [
                meta.commentChange({
                  text: 'Quero esta camisola em azul 💙',
                  igsid: accountB.igsid,
                  username: 'e2e_commenter',
                }),
              ],
            },
          ],
        }),
      },
      {
        name: 'unknown account',
        payload: webhookBody({
          entries: [
            {
              id: unknownAccountId,
              messaging: [
                meta.textMessage({
                  ig_business_id: unknownAccountId,
                  igsid: meta.nextId(),
                  text: 'Hello?',
                }),
              ],
            },
          ],
        }),
      },
    ];
  }

  beforeAll(async () => {
    [topics, database, simulator] = await Promise.all([
      createTestTopics('e2e', PARTITIONS),
      createTestDatabase('e2e'),
      startGraphSimulator(),
    ]);

    await seedClientAndAccounts();
    await startServices();

    const webhookUrl = `${(gateway as RunningGateway).url}/webhook`;
    for (const delivery of buildDeliveries()) {
      const signed = metaDelivery(delivery.payload, APP_SECRET);
      const response = await fetch(webhookUrl, {
        method: 'POST',
        headers: { ...signed.headers },
        body: signed.body,
      });
      statuses.set(delivery.name, response.status);
    }

    // Three message.received events (two for A, one for B) get three replies.
    await eventually('three auto-replies at the simulator', () => replies().length >= 3, WAIT_MS);
    await eventually(
      'six events and one unrouted entry',
      () => events().length >= 6 && (collector?.records(topics.names.unrouted).length ?? 0) >= 1,
      WAIT_MS,
    );
  });

  afterAll(async () => {
    await collector?.stop();
    await gateway?.close();
    await autoReply?.stop();
    await router?.stop();
    await sender?.stop();
    await simulator?.close();
    await database?.drop();
    await topics?.cleanup();
  });

  it('accepts every signed delivery', () => {
    expect(Object.fromEntries(statuses)).toEqual({
      echo: 200,
      'batch of both accounts': 200,
      'story mention': 200,
      reaction: 200,
      'comment under changes': 200,
      'unknown account': 200,
    });
  });

  it('routes the events of both accounts', () => {
    const records = collector?.records(topics.names.events) ?? [];
    const routed = records.map((record) => ({
      record,
      event: igEventV1Schema.parse(parseValue(record)),
    }));
    const labels = new Map([
      [accountA.ig_business_id, 'A'],
      [accountB.ig_business_id, 'B'],
    ]);
    const summary = routed
      .map(
        ({ event }) => `${labels.get(event.ig_business_id) ?? event.ig_business_id} ${event.type}`,
      )
      .sort();
    expect(summary).toEqual([
      'A message.echo',
      'A message.received',
      'A message.received',
      'B comment',
      'B message.reaction',
      'B message.received',
    ]);
    for (const { record, event } of routed) {
      expect(record.key).toBe(event.ig_business_id);
      expect(event.client_id).toBe(clientId);
      const account = event.ig_business_id === accountA.ig_business_id ? accountA : accountB;
      expect(event.account_name).toBe(account.username);
      expect(header(record, 'igr-client-id')).toBe(clientId);
      expect(header(record, 'igr-event-type')).toBe(event.type);
    }
  });

  it('keeps accents and emoji of the texts', () => {
    const texts = events()
      .filter((event) => event.type === 'message.received')
      .map((event) => (event.payload as { text: string | null }).text);
    expect(texts).toContain(TEXT_A);
    expect(texts).toContain(TEXT_B);
  });

  it('marks the echo and the comment', () => {
    const echo = events().find((event) => event.type === 'message.echo');
    expect(echo?.sender_id).toBe(accountA.ig_business_id);
    expect(echo?.recipient_id).toBe(accountA.igsid);
    expect((echo?.payload as { mid?: string } | undefined)?.mid).toBe(echoMid);
    const comment = events().find((event) => event.type === 'comment');
    expect(comment?.ig_business_id).toBe(accountB.ig_business_id);
    expect(comment?.source.field).toBe('changes');
    expect((comment?.payload as { text?: string } | undefined)?.text).toBe(
      'Quero esta camisola em azul 💙',
    );
  });

  it('sends the unknown account to unrouted', () => {
    const records = collector?.records(topics.names.unrouted) ?? [];
    expect(records).toHaveLength(1);
    const record = records[0] as ConsumedRecord;
    const unrouted: UnroutedRecord = unroutedRecordSchema.parse(parseValue(record));
    expect(unrouted.entry_id).toBe(unknownAccountId);
    expect(unrouted.reason).toBe('unknown_account');
    expect(record.key).toBe(unknownAccountId);
  });

  it('replies once per received message', () => {
    const received = events().filter((event) => event.type === 'message.received');
    const sent = replies();
    expect(sent.map((request) => request.command_id).sort()).toEqual(
      received.map((event) => `auto-reply-${event.event_id}`).sort(),
    );
    for (const event of received) {
      const request = sent.find((r) => r.command_id === `auto-reply-${event.event_id}`);
      const account = event.ig_business_id === accountA.ig_business_id ? accountA : accountB;
      expect(request?.ig_business_id).toBe(account.ig_business_id);
      expect(request?.recipient_id).toBe(account.igsid);
      expect(request?.token_fingerprint).toBe(tokenFingerprint(account.token));
      expect(request?.status).toBe(200);
      expect((request?.body as { message?: { text?: string } } | undefined)?.message?.text).toBe(
        REPLY_TEXT,
      );
    }
  });

  it('does not reply to the echo', async () => {
    const echo = events().find((event) => event.type === 'message.echo') as IgEventV1;
    const commands = await eventually(
      'three commands in ig.outbound',
      () => {
        const read = (collector?.records(topics.names.outbound) ?? []).map(
          (record) => parseValue(record) as SendCommand,
        );
        return read.length >= 3 ? read : undefined;
      },
      WAIT_MS,
    );
    // A's replies are among them, and a reply to the echo would precede them in A's partition.
    expect(commands.map((command) => command.command_id)).not.toContain(
      `auto-reply-${echo.event_id}`,
    );
    expect(commands).toHaveLength(3);
    expect(simulator.requests()).toHaveLength(3);
  });

  it('reports every reply as sent', async () => {
    const results = await eventually(
      'three send results',
      () => {
        const parsed = (collector?.records(topics.names.outboundResults) ?? []).map(
          (record) => sendResultSchema.parse(parseValue(record)) as SendResult,
        );
        return parsed.length >= 3 ? parsed : undefined;
      },
      WAIT_MS,
    );
    expect(results.map((result) => result.status)).toEqual(['sent', 'sent', 'sent']);
    const messageIds = new Set(replies().map((request) => request.message_id));
    for (const result of results) expect(messageIds).toContain(result.message_id);
  });

  it('keeps the account tokens out of every log', () => {
    const text = logs.map((log) => log.text()).join('\n');
    expect(text.length).toBeGreaterThan(0);
    expect(text).not.toContain(accountA.token);
    expect(text).not.toContain(accountB.token);
  });
});
