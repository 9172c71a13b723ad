import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import {
  type CapturedLogger,
  type ConsumedRecord,
  captureLogger,
  createTestDatabase,
  createTestTopics,
  eventually,
  type GraphSimulator,
  signatureFor,
  startGraphSimulator,
  type TestDatabase,
  type TestTopics,
} from '@ig-router/testkit';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, cliEnv, runChild, runInProcess } from '../../services/cli/test/helpers.js';
import {
  loadGatewayConfig,
  type RunningGateway,
  startGateway,
} from '../../services/gateway/src/index.js';
import { type RunningRouter, startRouter } from '../../services/router/src/service.js';
import { readCommittedToEnd, routerTestConfig } from '../../services/router/test/helpers.js';
import { type RunningSender, startSender } from '../../services/sender/src/service.js';
import {
  closeProducers,
  seedAccount,
  senderTestConfig,
  tokenCrypto,
} from '../../services/sender/test/helpers.js';
import { type SecretHit, scanForSecrets, secretForms } from './scan.js';

// Runs the main flows with known fake secrets and scans everything they leave behind. That is
// the logs of the gateway, router, sender and CLI (in-process loggers and a child process's
// stdout and stderr), the HTTP responses, every record of the topics, and the database rows.
// No secret may appear, raw or in its base64, hex or URL-encoded form.

const APP_ID = '100000000000099';

function fakeSecret(label: string): string {
  return `${label}${randomBytes(12).toString('hex')}`;
}

interface Evidence {
  source: string;
  text: string;
}

function recordText(record: ConsumedRecord): string {
  const headers = Object.entries(record.headers)
    .map(([name, value]) => `${name}=${String(value)}`)
    .join(' ');
  return `key=${record.key} headers=${headers} value=${record.value?.toString('utf8') ?? ''}`;
}

describe('secrets in logs, records and responses', () => {
  const secrets = {
    appSecret: fakeSecret('appsecret'),
    verifyToken: fakeSecret('verifytoken'),
    pageTokenSent: `EAAG${fakeSecret('pagetokensent')}`,
    pageTokenRevoked: `EAAG${fakeSecret('pagetokenrevoked')}`,
    pageTokenOnboarded: `EAAG${fakeSecret('pagetokenonboard')}`,
    badApiKey: `igr_${randomBytes(32).toString('base64url')}`,
    apiKey: '',
  };
  const evidence: Evidence[] = [];
  const logs: Record<string, CapturedLogger> = {
    gateway: captureLogger('gateway', 'debug'),
    router: captureLogger('router', 'debug'),
    sender: captureLogger('sender', 'debug'),
  };
  let topics: TestTopics;
  let database: TestDatabase;
  let simulator: GraphSimulator;
  let gateway: RunningGateway;
  let router: RunningRouter;
  let sender: RunningSender;
  let env: NodeJS.ProcessEnv;
  let clientId: string;
  const ids = (() => {
    const base = `17841${String(Date.now()).slice(-9)}`;
    return { sent: `${base}301`, revoked: `${base}302`, onboarded: `${base}303` };
  })();
  const commands = { sent: `sec-${randomUUID()}`, revoked: `sec-${randomUUID()}` };
  /** Output of `clients create`, which prints the API key on purpose: a positive control. */
  let clientsCreateOutput = '';
  /** HMAC of the wrongly signed body under the real app secret, which must not leak either. */
  let rejectedBodyHmac = '';

  async function http(label: string, path: string, init: RequestInit = {}): Promise<Response> {
    const response = await fetch(`${gateway.url}${path}`, init);
    const text = await response.clone().text();
    const headers = [...response.headers.entries()].map(([k, v]) => `${k}: ${v}`).join('\n');
    evidence.push({ source: `http ${label} (${response.status})`, text: `${headers}\n${text}` });
    return response;
  }

  function cli(label: string, run: CliRun): CliRun {
    evidence.push({ source: `cli ${label} stdout`, text: run.stdout });
    evidence.push({ source: `cli ${label} stderr`, text: run.stderr });
    return run;
  }

  beforeAll(async () => {
    [topics, database, simulator] = await Promise.all([
      createTestTopics('secrets'),
      createTestDatabase('secrets'),
      startGraphSimulator({ appId: APP_ID }),
    ]);
    env = cliEnv({
      DATABASE_URL: database.url,
      TOPIC_PREFIX: topics.prefix,
      GRAPH_API_URL: simulator.url,
      META_APP_ID: APP_ID,
      META_APP_SECRET: secrets.appSecret,
      LOG_LEVEL: 'debug',
    });

    // `clients create` prints the API key once. That output is the one place it may appear,
    // so it is not added to the evidence.
    const created = await runInProcess(['clients', 'create', '--name', 'secrets', '--json'], env);
    expect(created.code, created.stderr).toBe(0);
    const client = JSON.parse(created.stdout) as { client_id: string; api_key: string };
    clientId = client.client_id;
    secrets.apiKey = client.api_key;
    clientsCreateOutput = created.stdout;

    const crypto = tokenCrypto();
    for (const [id, token] of [
      [ids.sent, secrets.pageTokenSent],
      [ids.revoked, secrets.pageTokenRevoked],
    ] as const) {
      await seedAccount(database.db, crypto, simulator, {
        ig_business_id: id,
        token,
        clientName: 'secrets',
      });
    }

    const routerConfig = routerTestConfig({
      prefix: topics.prefix,
      databaseUrl: database.url,
      extra: { LOG_LEVEL: 'debug' },
    });
    [gateway, router, sender] = await Promise.all([
      startGateway(
        loadGatewayConfig({
          KAFKA_BROKERS: routerConfig.KAFKA_BROKERS.join(','),
          TOPIC_PREFIX: topics.prefix,
          DATABASE_URL: database.url,
          HOST: '127.0.0.1',
          PORT: '0',
          META_APP_SECRET: secrets.appSecret,
          META_VERIFY_TOKEN: secrets.verifyToken,
          LOG_LEVEL: 'debug',
        }),
        { logger: logs.gateway?.logger, rejectionLogIntervalMs: 0 },
      ),
      startRouter(routerConfig, { logger: logs.router?.logger }),
      startSender(
        senderTestConfig({
          prefix: topics.prefix,
          databaseUrl: database.url,
          graphUrl: simulator.url,
        }),
        { logger: logs.sender?.logger },
      ),
    ]);
    await runFlows();
    await collectRecords();
    await collectTables();
    for (const [service, captured] of Object.entries(logs)) {
      evidence.push({ source: `log ${service}`, text: captured.text() });
    }
  }, 180_000);

  afterAll(async () => {
    await closeProducers();
    await gateway?.close();
    await router?.stop();
    await sender?.stop();
    await simulator?.close();
    await database?.drop();
    await topics?.cleanup();
  });

  async function runFlows(): Promise<void> {
    // Webhook handshake with a wrong and the right verify token.
    const challenge = `challenge-${randomUUID()}`;
    const handshake = (token: string) =>
      `/webhook?hub.mode=subscribe&hub.verify_token=${encodeURIComponent(token)}&hub.challenge=${challenge}`;
    expect((await http('handshake wrong token', handshake(`${secrets.verifyToken}x`))).status).toBe(
      403,
    );
    expect((await http('handshake', handshake(secrets.verifyToken))).status).toBe(200);

    // Webhooks: wrong signature, right signature, and a signed body that is not JSON.
    const body = JSON.stringify({
      object: 'instagram',
      entry: [
        {
          id: ids.sent,
          time: Date.now(),
          messaging: [
            {
              sender: { id: '5550001' },
              recipient: { id: ids.sent },
              timestamp: Date.now(),
              message: { mid: 'mid.secrets', text: 'hi' },
            },
          ],
        },
      ],
    });
    const post = (label: string, payload: string, signature: string) =>
      http(label, '/webhook', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature },
        body: payload,
      });
    // The rejected body differs from the accepted one, so its real HMAC is stored nowhere.
    const rejectedBody = body.replace('mid.secrets', 'mid.secrets.rejected');
    rejectedBodyHmac = createHmac('sha256', secrets.appSecret).update(rejectedBody).digest('hex');
    const wrong = await post(
      'webhook wrong signature',
      rejectedBody,
      signatureFor(rejectedBody, 'not-the-secret'),
    );
    expect(wrong.status).toBe(403);
    expect((await post('webhook', body, signatureFor(body, secrets.appSecret))).status).toBe(200);
    const broken = '{"object":"instagram","entry":[';
    expect(
      (await post('webhook not JSON', broken, signatureFor(broken, secrets.appSecret))).status,
    ).toBe(200);

    // /v1 API: a bad key, a missing key, then the real key for a send and a failing send.
    const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
    expect(
      (
        await http('api bad key', `/v1/messages/${commands.sent}`, {
          headers: bearer(secrets.badApiKey),
        })
      ).status,
    ).toBe(401);
    expect((await http('api no key', `/v1/messages/${commands.sent}`)).status).toBe(401);
    const command = (commandId: string, account: string) => ({
      method: 'POST',
      headers: { ...bearer(secrets.apiKey), 'content-type': 'application/json' },
      body: JSON.stringify({
        command_id: commandId,
        ig_business_id: account,
        recipient: { id: '5550001' },
        message: { text: 'hello' },
      }),
    });
    simulator.addFault({ ig_business_id: ids.revoked, code: 190, subcode: 463, count: 1 });
    expect((await http('api send', '/v1/messages', command(commands.sent, ids.sent))).status).toBe(
      202,
    );
    expect(
      (await http('api send revoked', '/v1/messages', command(commands.revoked, ids.revoked)))
        .status,
    ).toBe(202);
    expect(
      (await http('api invalid JSON', '/v1/messages', { ...command('x', ids.sent), body: '{' }))
        .status,
    ).toBe(400);

    await eventually(
      'the send to finish and the revoked token to park its command',
      async () => {
        const rows = await database.db
          .selectFrom('sends')
          .select(['command_id', 'state'])
          .execute();
        const state = new Map(rows.map((row) => [row.command_id, row.state]));
        return state.get(commands.sent) === 'sent' && state.get(commands.revoked) === 'parked';
      },
      30_000,
      200,
    );
    expect(
      (
        await http('api status', `/v1/messages/${commands.revoked}`, {
          headers: bearer(secrets.apiKey),
        })
      ).status,
    ).toBe(200);

    // CLI: onboarding in a child process, then token checks and a rotation in-process.
    simulator.registerAccount({
      ig_business_id: ids.onboarded,
      page_id: `10${ids.onboarded.slice(-13)}`,
      username: 'secrets_onboarded',
      token: secrets.pageTokenOnboarded,
    });
    const onboard = cli(
      'accounts onboard',
      await runChild(
        ['accounts', 'onboard', '--client', clientId, '--token-stdin', '--json'],
        env,
        {
          stdin: `${secrets.pageTokenOnboarded}\n`,
        },
      ),
    );
    expect(onboard.code, onboard.stderr).toBe(0);
    cli('accounts check', await runInProcess(['accounts', 'check', '--all', '--json'], env));
    cli(
      'accounts rotate-token',
      await runInProcess(
        ['accounts', 'rotate-token', ids.revoked, '--token-stdin', '--skip-graph-check'],
        env,
        `${secrets.pageTokenRevoked}\n`,
      ),
    );
    cli('accounts list', await runInProcess(['accounts', 'list', '--json'], env));
    cli('audit verify', await runInProcess(['audit', 'verify', '--from', '-1h', '--json'], env));
    cli('replay raw', await runInProcess(['replay', '--topic', 'ig.raw', '--from', '-1h'], env));
  }

  async function collectRecords(): Promise<void> {
    const keys = [
      'raw',
      'events',
      'dlq',
      'unrouted',
      'outbound',
      'outboundResults',
      'circuit',
    ] as const;
    const read = await Promise.all(
      keys.map((key) => readCommittedToEnd(topics.kafka, topics.names[key], 20_000, true)),
    );
    for (const [index, records] of read.entries()) {
      for (const record of records) {
        evidence.push({
          source: `topic ${keys[index]} ${record.partition}:${record.offset}`,
          text: recordText(record),
        });
      }
    }
  }

  async function collectTables(): Promise<void> {
    for (const table of ['clients', 'ig_accounts', 'sends']) {
      const rows = await sql<{
        row: unknown;
      }>`select row_to_json(t) as row from ${sql.table(table)} t`.execute(database.db);
      for (const { row } of rows.rows) {
        evidence.push({ source: `table ${table}`, text: JSON.stringify(row) });
      }
    }
  }

  it('finds the flows left logs, records and rows to scan', () => {
    const sources = new Set(evidence.map((item) => item.source.split(' ')[0]));

    expect([...sources].sort()).toEqual(['cli', 'http', 'log', 'table', 'topic']);
    expect(logs.gateway?.lines().length).toBeGreaterThan(0);
    expect(logs.router?.lines().length).toBeGreaterThan(0);
    expect(logs.sender?.lines().length).toBeGreaterThan(0);
    expect(evidence.some((item) => item.source.startsWith('topic dlq'))).toBe(true);
    expect(evidence.some((item) => item.source.startsWith('topic outboundResults'))).toBe(true);
  });

  it('scans find the API key printed by clients create', () => {
    const hits = scanForSecrets(
      [{ source: 'clients create', text: clientsCreateOutput }],
      secretForms({ apiKey: secrets.apiKey }),
    );

    expect(hits.map((hit) => hit.encoding)).toContain('raw');
  });

  it('scans find a planted secret', () => {
    const planted = `prefix ${Buffer.from(`xx${secrets.appSecret}`).toString('base64')} suffix`;

    expect(
      scanForSecrets(
        [{ source: 'planted', text: planted }],
        secretForms({ appSecret: secrets.appSecret }),
      ),
    ).not.toEqual([]);
  });

  it('no secret appears anywhere', () => {
    const forms = secretForms(secrets);
    const hits: SecretHit[] = scanForSecrets(evidence, forms);
    const counts = new Map<string, number>();
    for (const item of evidence) {
      const kind = item.source.split(' ').slice(0, 2).join(' ');
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
    }
    const logLines = Object.entries(logs).map(
      ([name, captured]) => `${name}=${captured.lines().length}`,
    );
    process.stdout.write(
      `[secrets] ${forms.length} forms of ${Object.keys(secrets).length} secrets; log lines ${logLines.join(' ')}; items ${[
        ...counts,
      ]
        .map(([kind, count]) => `${kind}=${count}`)
        .join(', ')}; hits ${hits.length}\n`,
    );

    expect(hits).toEqual([]);
  });

  it('no expected signature of a rejected body appears', () => {
    const hits = scanForSecrets(evidence, secretForms({ rejectedBodyHmac }));

    expect(rejectedBodyHmac).toHaveLength(64);
    expect(hits).toEqual([]);
  });
});
