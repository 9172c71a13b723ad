import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  createIdempotentProducer,
  createKmsClient,
  encryptedTokenColumns,
  type SendCommand,
  sendCommandSchema,
  TokenCrypto,
} from '@ig-router/core';
import {
  type CapturedLogger,
  captureLogger,
  createTestDatabase,
  createTestTopics,
  readTopic,
  type TestDatabase,
  type TestTopics,
  testEnv,
} from '@ig-router/testkit';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Producer } from 'kafkajs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { clientApiPlugin } from '../src/client-api.js';
import { buildOpenApiDocument } from '../src/openapi.js';

const committedOpenApi = fileURLToPath(new URL('../openapi.json', import.meta.url));

interface TestClient {
  client_id: string;
  apiKey: string;
}

describe('client API', () => {
  let db: TestDatabase;
  let topics: TestTopics;
  let producer: Producer;
  let app: FastifyInstance;
  let captured: CapturedLogger;
  let failProduce = false;
  let alice: TestClient;
  let bob: TestClient;
  const aliceAccount = '17841400000333001';
  const aliceInactiveAccount = '17841400000333002';
  const bobAccount = '17841400000333003';

  async function createClient(name: string): Promise<TestClient> {
    const apiKey = `igr_${randomBytes(32).toString('base64url')}`;
    const row = await db.db
      .insertInto('clients')
      .values({
        name,
        api_key_hash: createHash('sha256').update(apiKey).digest('hex'),
        api_key_prefix: apiKey.slice(0, 8),
      })
      .returning('client_id')
      .executeTakeFirstOrThrow();
    return { client_id: row.client_id, apiKey };
  }

  async function createAccount(
    igBusinessId: string,
    clientId: string,
    active: boolean,
  ): Promise<void> {
    const env = testEnv();
    const crypto = new TokenCrypto(createKmsClient(env), env.KMS_KEY_ID);
    const sealed = await crypto.encrypt(
      { ig_business_id: igBusinessId, client_id: clientId },
      'EAAG-test-token',
    );
    await db.db
      .insertInto('ig_accounts')
      .values({
        ig_business_id: igBusinessId,
        client_id: clientId,
        username: `user_${igBusinessId.slice(-3)}`,
        page_id: null,
        ...encryptedTokenColumns(sealed),
        token_expires_at: null,
        active,
      })
      .execute();
  }

  function command(
    igBusinessId: string,
    overrides: Partial<SendCommand> = {},
  ): Record<string, unknown> {
    return {
      command_id: randomUUID(),
      ig_business_id: igBusinessId,
      recipient: { id: '5566778899' },
      message: { text: 'Hello from the API' },
      ...overrides,
    };
  }

  function post(client: TestClient | undefined, body: unknown) {
    return app.inject({
      method: 'POST',
      url: '/v1/messages',
      headers: client ? { authorization: `Bearer ${client.apiKey}` } : {},
      payload: body as Record<string, unknown>,
    });
  }

  function get(client: TestClient | undefined, commandId: string) {
    return app.inject({
      method: 'GET',
      url: `/v1/messages/${encodeURIComponent(commandId)}`,
      headers: client ? { authorization: `Bearer ${client.apiKey}` } : {},
    });
  }

  beforeAll(async () => {
    db = await createTestDatabase('client-api');
    topics = await createTestTopics('client-api');
    producer = createIdempotentProducer(topics.kafka);
    await producer.connect();
    captured = captureLogger('gateway');

    alice = await createClient('Alice Agency');
    bob = await createClient('Bob Brand');
    await createAccount(aliceAccount, alice.client_id, true);
    await createAccount(aliceInactiveAccount, alice.client_id, false);
    await createAccount(bobAccount, bob.client_id, true);

    app = Fastify();
    await app.register(clientApiPlugin, {
      db: db.db,
      topics: topics.names,
      logger: captured.logger,
      produceOutbound: async (sendCommand) => {
        if (failProduce) throw new Error('broker not available');
        await producer.send({
          topic: topics.names.outbound,
          messages: [{ key: sendCommand.ig_business_id, value: JSON.stringify(sendCommand) }],
        });
      },
    });
    await app.ready();
  });

  beforeEach(() => {
    failProduce = false;
  });

  afterAll(async () => {
    await app?.close();
    await producer?.disconnect();
    await topics?.cleanup();
    await db?.drop();
  });

  it('answers 401 without an Authorization header', async () => {
    const response = await post(undefined, command(aliceAccount));
    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toContain('Bearer');
    expect(response.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
  });

  it('answers 401 for an unknown or malformed API key', async () => {
    const unknown = { client_id: '', apiKey: `igr_${randomBytes(32).toString('base64url')}` };
    expect((await post(unknown, command(aliceAccount))).statusCode).toBe(401);
    const sameprefix = {
      client_id: '',
      apiKey: `${alice.apiKey.slice(0, 8)}${randomBytes(32).toString('base64url').slice(4)}`,
    };
    expect((await post(sameprefix, command(aliceAccount))).statusCode).toBe(401);
    const malformed = { client_id: '', apiKey: 'not-a-key' };
    expect((await get(malformed, 'anything')).statusCode).toBe(401);
  });

  it('accepts a valid command with 202 and writes it to ig.outbound', async () => {
    const body = command(aliceAccount);
    const response = await post(alice, body);
    expect(response.statusCode, response.body).toBe(202);
    expect(response.json()).toEqual({
      command_id: body.command_id,
      state: 'pending',
      duplicate: false,
      status_url: `/v1/messages/${body.command_id}`,
    });

    const records = await readTopic(topics.kafka, topics.names.outbound, {
      until: (read) =>
        read.some((record) => record.value?.toString('utf8').includes(String(body.command_id))),
    });
    const record = records.find((entry) =>
      entry.value?.toString('utf8').includes(String(body.command_id)),
    );
    expect(record?.key).toBe(aliceAccount);
    const written = sendCommandSchema.parse(JSON.parse(record?.value?.toString('utf8') ?? '{}'));
    expect(written.message).toEqual({ text: 'Hello from the API' });
    expect(Date.parse(written.created_at)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('answers 400 with the field errors of an invalid command', async () => {
    const response = await post(alice, {
      command_id: 'bad id with spaces',
      ig_business_id: aliceAccount,
      recipient: { id: 'not-digits' },
      message: { text: 'x'.repeat(1001) },
    });
    expect(response.statusCode).toBe(400);
    const body = response.json() as {
      error: { code: string; issues: Array<{ path: string; message: string }> };
    };
    expect(body.error.code).toBe('INVALID_COMMAND');
    const paths = body.error.issues.map((issue) => issue.path);
    expect(paths).toContain('command_id');
    expect(paths).toContain('recipient.id');
    expect(paths).toContain('message.text');
  });

  it('answers 400 for a body that is not JSON', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/messages',
      headers: { authorization: `Bearer ${alice.apiKey}`, 'content-type': 'application/json' },
      payload: '{"command_id": ',
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: { code: 'INVALID_REQUEST' } });
  });

  it('answers 415 for a command sent as text/plain', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/messages',
      headers: { authorization: `Bearer ${alice.apiKey}`, 'content-type': 'text/plain' },
      payload: JSON.stringify(command(aliceAccount)),
    });
    expect(response.statusCode).toBe(415);
    expect(response.json()).toMatchObject({ error: { code: 'UNSUPPORTED_MEDIA_TYPE' } });
  });

  it('answers 403 for an account of another client', async () => {
    const response = await post(alice, command(bobAccount));
    expect(response.statusCode).toBe(403);
    expect(response.json()).toMatchObject({ error: { code: 'ACCOUNT_FORBIDDEN' } });
  });

  it('answers 403 for an unknown account with the same code', async () => {
    const response = await post(alice, command('17841400000999999'));
    expect(response.statusCode).toBe(403);
    expect(response.json()).toMatchObject({ error: { code: 'ACCOUNT_FORBIDDEN' } });
  });

  it('answers 403 for an inactive account of the client', async () => {
    const response = await post(alice, command(aliceInactiveAccount));
    expect(response.statusCode).toBe(403);
    expect(response.json()).toMatchObject({ error: { code: 'ACCOUNT_INACTIVE' } });
  });

  it('returns the state to the owner and 404 to any other client', async () => {
    const body = command(aliceAccount);
    expect((await post(alice, body)).statusCode).toBe(202);
    await db.db
      .updateTable('sends')
      .set({ state: 'sent', attempts: 1, message_id: 'mid.42', completed_at: new Date() })
      .where('command_id', '=', String(body.command_id))
      .execute();

    const own = await get(alice, String(body.command_id));
    expect(own.statusCode).toBe(200);
    expect(own.json()).toMatchObject({
      command_id: body.command_id,
      ig_business_id: aliceAccount,
      recipient_id: '5566778899',
      state: 'sent',
      attempts: 1,
      message_id: 'mid.42',
    });

    const other = await get(bob, String(body.command_id));
    const missing = await get(bob, randomUUID());
    expect(other.statusCode).toBe(404);
    expect(missing.statusCode).toBe(404);
    expect(Object.keys(other.json().error)).toEqual(Object.keys(missing.json().error));
    expect(other.json().error.code).toBe('NOT_FOUND');
  });

  it('accepts a repeated command_id of the same client once', async () => {
    const body = command(aliceAccount);
    expect((await post(alice, body)).statusCode).toBe(202);
    const again = await post(alice, body);
    expect(again.statusCode).toBe(202);
    expect(again.json()).toMatchObject({
      command_id: body.command_id,
      duplicate: true,
      state: 'pending',
    });
  });

  it('answers 409 when another client uses the command_id', async () => {
    const commandId = randomUUID();
    expect((await post(alice, command(aliceAccount, { command_id: commandId }))).statusCode).toBe(
      202,
    );
    const response = await post(bob, command(bobAccount, { command_id: commandId }));
    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({ error: { code: 'COMMAND_ID_CONFLICT' } });
  });

  it('answers 409 when the command_id is reused for another recipient', async () => {
    const commandId = randomUUID();
    const first = await post(alice, command(aliceAccount, { command_id: commandId }));
    expect(first.statusCode).toBe(202);
    const response = await post(
      alice,
      command(aliceAccount, { command_id: commandId, recipient: { id: '9988776655' } }),
    );
    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({ error: { code: 'COMMAND_ID_CONFLICT' } });
  });

  it('answers 503 and keeps no row when the command cannot be written', async () => {
    failProduce = true;
    const body = command(aliceAccount);
    const response = await post(alice, body);
    expect(response.statusCode).toBe(503);
    expect(response.headers['retry-after']).toBe('1');
    expect(response.json()).toMatchObject({ error: { code: 'OUTBOUND_UNAVAILABLE' } });
    expect((await get(alice, String(body.command_id))).statusCode).toBe(404);

    failProduce = false;
    expect((await post(alice, body)).statusCode).toBe(202);
  });

  it('answers 413 for a body over 64 KiB', async () => {
    const response = await post(alice, {
      ...command(aliceAccount),
      padding: 'x'.repeat(70 * 1024),
    });
    expect(response.statusCode).toBe(413);
  });

  it('serves the committed OpenAPI 3.1 document without authentication', async () => {
    const response = await app.inject({ method: 'GET', url: '/v1/openapi.json' });
    expect(response.statusCode).toBe(200);
    const served = response.json() as { openapi: string; paths: Record<string, unknown> };
    expect(served.openapi).toBe('3.1.0');
    expect(Object.keys(served.paths)).toEqual([
      '/v1/messages',
      '/v1/messages/{command_id}',
      '/v1/openapi.json',
    ]);

    const generated = buildOpenApiDocument();
    // IGR_UPDATE_OPENAPI=1 rewrites the committed copy after an intended change of the API.
    if (process.env.IGR_UPDATE_OPENAPI === '1') {
      writeFileSync(committedOpenApi, `${JSON.stringify(generated, null, 2)}\n`);
    }
    // Compared as JSON, so the formatter's layout of the committed file does not matter.
    expect(JSON.parse(readFileSync(committedOpenApi, 'utf8'))).toEqual(generated);
    expect(served).toEqual(generated);
  });

  it('never logs an API key', () => {
    const text = captured.text();
    expect(text).not.toContain(alice.apiKey);
    expect(text).not.toContain(bob.apiKey);
    expect(captured.records().some((record) => record.msg === 'send command accepted')).toBe(true);
  });
});
