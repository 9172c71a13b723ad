import { createHash, randomBytes } from 'node:crypto';
import {
  createIdempotentProducer,
  createKmsClient,
  encryptedTokenFromRow,
  TokenCrypto,
  topicNames,
} from '@ig-router/core';
import {
  createTestDatabase,
  createTestTopics,
  type GraphSimulator,
  readTopic,
  startGraphSimulator,
  type TestDatabase,
  type TestTopics,
  testEnv,
} from '@ig-router/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, cliEnv, runInProcess } from './helpers.js';

const APP_ID = '100000000000001';
const APP_SECRET = `app-secret-${randomBytes(8).toString('hex')}`;

function newToken(): string {
  return `EAAG${randomBytes(24).toString('hex')}`;
}

let sequence = 0;
function newIds(): { ig_business_id: string; page_id: string } {
  sequence += 1;
  const suffix = `${Date.now() % 1_000_000}${String(sequence).padStart(3, '0')}`;
  return {
    ig_business_id: `178414${suffix.padStart(11, '0')}`,
    page_id: `10${suffix.padStart(13, '0')}`,
  };
}

describe('igr clients and accounts', () => {
  let db: TestDatabase;
  let topics: TestTopics;
  let sim: GraphSimulator;
  let env: NodeJS.ProcessEnv;
  const secrets: string[] = [APP_SECRET];
  const outputs: CliRun[] = [];

  async function igr(argv: string[], stdin = ''): Promise<CliRun> {
    const run = await runInProcess(argv, env, stdin);
    outputs.push(run);
    return run;
  }

  async function createClient(name: string): Promise<{ client_id: string; api_key: string }> {
    const run = await igr(['clients', 'create', '--name', name, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const created = JSON.parse(run.stdout) as { client_id: string; api_key: string };
    secrets.push(created.api_key);
    return created;
  }

  function register(
    options: { expires_at?: number; is_valid?: boolean; has_instagram_account?: boolean } = {},
  ) {
    const ids = newIds();
    const token = newToken();
    secrets.push(token);
    const username = `acct_${ids.ig_business_id.slice(-6)}`;
    sim.registerAccount({ ...ids, username, token, ...options });
    return { ...ids, username, token };
  }

  beforeAll(async () => {
    db = await createTestDatabase('cli-accounts');
    topics = await createTestTopics('cli-accounts');
    sim = await startGraphSimulator({ appId: APP_ID });
    env = cliEnv({
      DATABASE_URL: db.url,
      TOPIC_PREFIX: topics.prefix,
      GRAPH_API_URL: sim.url,
      META_APP_ID: APP_ID,
      META_APP_SECRET: APP_SECRET,
    });
  });

  afterAll(async () => {
    await sim?.close();
    await topics?.cleanup();
    await db?.drop();
  });

  it('clients create prints the key once and stores its hash', async () => {
    const run = await igr(['clients', 'create', '--name', 'Acme Coffee']);
    expect(run.code, run.stderr).toBe(0);
    const clientId = /client_id: (\S+)/.exec(run.stdout)?.[1];
    const apiKey = /api_key: {3}(\S+)/.exec(run.stdout)?.[1] ?? '';
    secrets.push(apiKey);
    expect(apiKey).toMatch(/^igr_[A-Za-z0-9_-]{43}$/);
    expect(run.stderr).toContain('shown only once');

    const row = await db.db
      .selectFrom('clients')
      .selectAll()
      .where('client_id', '=', clientId ?? '')
      .executeTakeFirstOrThrow();
    expect(row.name).toBe('Acme Coffee');
    expect(row.api_key_hash).toBe(createHash('sha256').update(apiKey).digest('hex'));
    expect(row.api_key_prefix).toBe(apiKey.slice(0, 8));

    const list = await igr(['clients', 'list', '--json']);
    expect(list.code).toBe(0);
    expect(list.stdout).not.toContain(apiKey);
    expect(JSON.parse(list.stdout)).toContainEqual(
      expect.objectContaining({ client_id: clientId, name: 'Acme Coffee', accounts: 0 }),
    );
  });

  it('clients create rejects a duplicate name', async () => {
    await createClient('Duplicate Name Ltd');
    const run = await igr(['clients', 'create', '--name', 'Duplicate Name Ltd']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('a client named "Duplicate Name Ltd" already exists');
  });

  it('onboard creates an active account that stores only ciphertext', async () => {
    const client = await createClient('Onboard Ok');
    const account = register();

    const run = await igr(
      ['accounts', 'onboard', '--client', client.client_id, '--token-stdin', '--json'],
      `${account.token}\n`,
    );
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      ig_business_id: account.ig_business_id,
      username: account.username,
      page_id: account.page_id,
      client_id: client.client_id,
      created: true,
      active: true,
    });

    const row = await db.db
      .selectFrom('ig_accounts')
      .selectAll()
      .where('ig_business_id', '=', account.ig_business_id)
      .executeTakeFirstOrThrow();
    expect(row.client_id).toBe(client.client_id);
    expect(row.username).toBe(account.username);
    expect(row.active).toBe(true);
    for (const column of [
      row.token_ciphertext,
      row.token_encrypted_key,
      row.token_iv,
      row.token_auth_tag,
    ]) {
      expect(column.includes(Buffer.from(account.token))).toBe(false);
    }
    const crypto = new TokenCrypto(createKmsClient(testEnv()), testEnv().KMS_KEY_ID);
    const decrypted = await crypto.decrypt(
      { ig_business_id: account.ig_business_id, client_id: client.client_id },
      encryptedTokenFromRow(row),
    );
    expect(decrypted).toBe(account.token);

    const subscription = sim.subscriptions().find((entry) => entry.page_id === account.page_id);
    expect(subscription?.subscribed_fields).toContain('messages');
  });

  it('onboard again for the same client updates the account', async () => {
    const client = await createClient('Onboard Twice');
    const account = register();
    const first = await igr(
      ['accounts', 'onboard', '--client', client.client_id, '--token-stdin'],
      account.token,
    );
    expect(first.code, first.stderr).toBe(0);
    await igr(['accounts', 'deactivate', account.ig_business_id]);

    const second = await igr(
      ['accounts', 'onboard', '--client', client.client_id, '--token-stdin', '--json'],
      account.token,
    );
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ created: false, active: true });
  });

  it('onboard fails for a Page without an Instagram account and stores nothing', async () => {
    const client = await createClient('No Instagram');
    const account = register({ has_instagram_account: false });

    const run = await igr(
      ['accounts', 'onboard', '--client', client.client_id, '--token-stdin'],
      account.token,
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('onboarding step 2/6');
    expect(run.stderr).toContain(
      `Page ${account.page_id} has no Instagram professional account linked`,
    );

    const rows = await db.db
      .selectFrom('ig_accounts')
      .select('ig_business_id')
      .where('client_id', '=', client.client_id)
      .execute();
    expect(rows).toEqual([]);
    expect(sim.subscriptions().some((entry) => entry.page_id === account.page_id)).toBe(false);
  });

  it('onboard fails at step 2 for an unknown token', async () => {
    const client = await createClient('Unknown Token');
    const token = newToken();
    secrets.push(token);

    const run = await igr(
      ['accounts', 'onboard', '--client', client.client_id, '--token-stdin'],
      token,
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('onboarding step 2/6');
    expect(run.stderr).toContain('the token is invalid or expired');
  });

  it('onboard refuses an account that belongs to another client', async () => {
    const owner = await createClient('Owner Client');
    const other = await createClient('Other Client');
    const account = register();
    expect(
      (
        await igr(
          ['accounts', 'onboard', '--client', owner.client_id, '--token-stdin'],
          account.token,
        )
      ).code,
    ).toBe(0);

    const run = await igr(
      ['accounts', 'onboard', '--client', other.client_id, '--token-stdin'],
      account.token,
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`belongs to client ${owner.client_id}`);
    const row = await db.db
      .selectFrom('ig_accounts')
      .select('client_id')
      .where('ig_business_id', '=', account.ig_business_id)
      .executeTakeFirstOrThrow();
    expect(row.client_id).toBe(owner.client_id);
  });

  it('onboard fails without a token on stdin', async () => {
    const client = await createClient('Empty Stdin');
    const run = await igr(
      ['accounts', 'onboard', '--client', client.client_id, '--token-stdin'],
      '',
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('no token on standard input');
  });

  it('add, list, deactivate and activate an account', async () => {
    const client = await createClient('Migrated Client');
    const token = newToken();
    secrets.push(token);
    const { ig_business_id } = newIds();

    const add = await igr(
      [
        'accounts',
        'add',
        '--client',
        client.client_id,
        '--ig-id',
        ig_business_id,
        '--username',
        '@migrated',
        '--token-stdin',
      ],
      token,
    );
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toContain(`added account ${ig_business_id} (@migrated)`);

    const list = await igr(['accounts', 'list', '--client', client.client_id, '--json']);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([
      expect.objectContaining({
        ig_business_id,
        username: 'migrated',
        active: true,
        page_id: null,
      }),
    ]);

    const deactivate = await igr(['accounts', 'deactivate', ig_business_id]);
    expect(deactivate.code).toBe(0);
    expect(deactivate.stdout).toContain('is now inactive');
    const again = await igr(['accounts', 'deactivate', ig_business_id]);
    expect(again.stdout).toContain('was already inactive');

    const activate = await igr(['accounts', 'activate', ig_business_id, '--json']);
    expect(JSON.parse(activate.stdout)).toEqual({ ig_business_id, active: true, changed: true });

    const missing = await igr(['accounts', 'activate', '17841499999999999']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('account 17841499999999999 not found');

    const invalid = await igr(['accounts', 'activate', 'abc']);
    expect(invalid.code).toBe(64);
  });

  it('check exits 2 for invalid and expiring tokens', async () => {
    const client = await createClient('Check Client');
    const nowSeconds = Math.floor(Date.now() / 1000);
    const valid = register({ expires_at: 0 });
    const expiring = register({ expires_at: nowSeconds + 3 * 86_400 });
    const later = register({ expires_at: nowSeconds + 30 * 86_400 });
    const invalid = register();
    for (const account of [valid, expiring, later, invalid]) {
      const run = await igr(
        ['accounts', 'onboard', '--client', client.client_id, '--token-stdin'],
        account.token,
      );
      expect(run.code, run.stderr).toBe(0);
    }
    sim.registerAccount({
      ig_business_id: invalid.ig_business_id,
      page_id: invalid.page_id,
      username: invalid.username,
      token: invalid.token,
      is_valid: false,
    });

    const run = await igr(['accounts', 'check', '--client', client.client_id, '--json']);
    expect(run.code, run.stderr).toBe(2);
    const checks = JSON.parse(run.stdout) as Array<{
      ig_business_id: string;
      status: string;
      days_left: number | null;
    }>;
    const statusOf = (id: string) => checks.find((check) => check.ig_business_id === id)?.status;
    expect(statusOf(valid.ig_business_id)).toBe('ok');
    expect(statusOf(expiring.ig_business_id)).toBe('expiring');
    expect(statusOf(later.ig_business_id)).toBe('ok');
    expect(statusOf(invalid.ig_business_id)).toBe('invalid');
    expect(
      checks.find((check) => check.ig_business_id === expiring.ig_business_id)?.days_left,
    ).toBe(2);

    const one = await igr(['accounts', 'check', valid.ig_business_id]);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toContain('valid, does not expire');

    const wider = await igr(['accounts', 'check', later.ig_business_id, '--warn-days', '45']);
    expect(wider.code).toBe(2);
  });

  it('check exits 78 without META_APP_ID', async () => {
    const run = await runInProcess(['accounts', 'check'], { ...env, META_APP_ID: '' });
    outputs.push(run);
    expect(run.code).toBe(78);
    expect(run.stderr).toContain('META_APP_ID');
  });

  it('rotate-token stores the new token and closes an auth circuit', async () => {
    const client = await createClient('Rotate Client');
    const account = register();
    expect(
      (
        await igr(
          ['accounts', 'onboard', '--client', client.client_id, '--token-stdin'],
          account.token,
        )
      ).code,
    ).toBe(0);

    const names = topicNames(topics.prefix);
    const producer = createIdempotentProducer(topics.kafka);
    await producer.connect();
    await producer.send({
      topic: names.circuit,
      messages: [
        {
          key: account.ig_business_id,
          value: JSON.stringify({
            ig_business_id: account.ig_business_id,
            state: 'open',
            reason: 'auth',
            opened_at: new Date().toISOString(),
            retry_at: null,
            failures: 1,
            cooldown_ms: 3_600_000,
            updated_at: new Date().toISOString(),
          }),
        },
      ],
    });
    await producer.disconnect();

    const newer = newToken();
    secrets.push(newer);
    sim.registerAccount({
      ig_business_id: account.ig_business_id,
      page_id: account.page_id,
      username: account.username,
      token: newer,
    });

    const wrong = register();
    const rejected = await igr(
      ['accounts', 'rotate-token', account.ig_business_id, '--token-stdin'],
      wrong.token,
    );
    expect(rejected.code).toBe(1);
    expect(rejected.stderr).toContain('was not stored');

    const run = await igr(
      ['accounts', 'rotate-token', account.ig_business_id, '--token-stdin', '--json'],
      newer,
    );
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      ig_business_id: account.ig_business_id,
      token_replaced: true,
      circuit: 'closed',
    });

    const row = await db.db
      .selectFrom('ig_accounts')
      .selectAll()
      .where('ig_business_id', '=', account.ig_business_id)
      .executeTakeFirstOrThrow();
    const crypto = new TokenCrypto(createKmsClient(testEnv()), testEnv().KMS_KEY_ID);
    expect(
      await crypto.decrypt(
        { ig_business_id: account.ig_business_id, client_id: client.client_id },
        encryptedTokenFromRow(row),
      ),
    ).toBe(newer);

    const records = await readTopic(topics.kafka, names.circuit, {
      until: (read) => read.filter((record) => record.key === account.ig_business_id).length >= 2,
    });
    const last = records.filter((record) => record.key === account.ig_business_id).at(-1);
    expect(JSON.parse(last?.value?.toString('utf8') ?? '{}')).toMatchObject({
      state: 'closed',
      failures: 0,
    });
  });

  it('never prints a token, API key or app secret outside clients create', () => {
    expect(outputs.length).toBeGreaterThan(10);
    for (const run of outputs) {
      const isCreate = run.stdout.includes('api_key');
      for (const secret of secrets) {
        expect(run.stderr).not.toContain(secret);
        if (!isCreate) expect(run.stdout).not.toContain(secret);
      }
    }
  });
});
