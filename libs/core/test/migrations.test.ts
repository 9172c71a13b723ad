import { createTestDatabase, type TestDatabase } from '@ig-router/testkit';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCOUNT_CHANGES_CHANNEL, migrateDown, migrateUp, migrations } from '../src/index.js';

async function tableNames(database: TestDatabase): Promise<string[]> {
  const result = await sql<{ table_name: string }>`
    select table_name from information_schema.tables
    where table_schema = 'public' and table_name not like 'igr_migrations%'
    order by table_name`.execute(database.db);
  return result.rows.map((row) => row.table_name);
}

describe('migrations', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase('migrations');
  });

  afterAll(async () => {
    await database.drop();
  });

  it('creates every table of the design', async () => {
    expect(await tableNames(database)).toEqual([
      'clients',
      'ig_accounts',
      'igsids',
      'messages',
      'sends',
    ]);
  });

  it('go down, up and down again', async () => {
    const reverted = await migrateDown(database.db, true);
    expect(reverted).toEqual(Object.keys(migrations).reverse());
    expect(await tableNames(database)).toEqual([]);

    const applied = await migrateUp(database.db);
    expect(applied).toEqual(Object.keys(migrations));
    expect(await tableNames(database)).toHaveLength(5);

    expect(await migrateUp(database.db)).toEqual([]);
    expect(await migrateDown(database.db)).toEqual(['003_sends_unfinished_index']);
    expect(await migrateUp(database.db)).toEqual(['003_sends_unfinished_index']);
  });

  it('publishes ig_accounts changes with NOTIFY, without token columns', async () => {
    const listener = new pg.Client({ connectionString: database.url });
    await listener.connect();
    const payloads: string[] = [];
    listener.on('notification', (message) => payloads.push(message.payload ?? ''));
    await listener.query(`LISTEN ${ACCOUNT_CHANGES_CHANNEL}`);

    const client = await database.db
      .insertInto('clients')
      .values({ name: 'notify-client', api_key_hash: 'h1', api_key_prefix: 'igr_1' })
      .returning('client_id')
      .executeTakeFirstOrThrow();
    const tokenColumns = {
      token_encrypted_key: Buffer.from('k'),
      token_iv: Buffer.from('i'),
      token_ciphertext: Buffer.from('secret-ciphertext'),
      token_auth_tag: Buffer.from('t'),
      token_kms_key_id: 'alias/test',
    };
    await database.db
      .insertInto('ig_accounts')
      .values({
        ig_business_id: '17841400000000001',
        client_id: client.client_id,
        username: 'a',
        ...tokenColumns,
      })
      .execute();
    await database.db
      .updateTable('ig_accounts')
      .set({ active: false })
      .where('ig_business_id', '=', '17841400000000001')
      .execute();

    const deadline = Date.now() + 5_000;
    while (payloads.length < 2 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    await listener.end();

    expect(payloads.map((p) => JSON.parse(p))).toEqual([
      {
        op: 'insert',
        ig_business_id: '17841400000000001',
        client_id: client.client_id,
        active: true,
      },
      {
        op: 'update',
        ig_business_id: '17841400000000001',
        client_id: client.client_id,
        active: false,
      },
    ]);
    expect(payloads.join('')).not.toContain('ciphertext');
  });
});
