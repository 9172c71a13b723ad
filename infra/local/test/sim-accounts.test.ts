import { createKmsClient, encryptedTokenColumns, TokenCrypto } from '@ig-router/core';
import {
  createTestDatabase,
  type GraphSimulator,
  startGraphSimulator,
  type TestDatabase,
  testEnv,
  tokenFingerprint,
} from '@ig-router/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerStoredAccounts } from '../src/sim-accounts.js';

describe('registerStoredAccounts', () => {
  let database: TestDatabase;
  let simulator: GraphSimulator;

  beforeAll(async () => {
    database = await createTestDatabase('sim-accounts');
    simulator = await startGraphSimulator();
  });

  afterAll(async () => {
    await simulator?.close();
    await database?.drop();
  });

  it('registers active accounts with their decrypted tokens only', async () => {
    const env = testEnv();
    const crypto = new TokenCrypto(createKmsClient(env), env.KMS_KEY_ID);
    const client = await database.db
      .insertInto('clients')
      .values({ name: 'sim-accounts', api_key_hash: 'hash', api_key_prefix: 'igr_test' })
      .returning('client_id')
      .executeTakeFirstOrThrow();
    const accounts = [
      { id: '17841400000777001', token: 'EAAGsimaccountsActiveToken1', active: true, page: '1200' },
      {
        id: '17841400000777002',
        token: 'EAAGsimaccountsInactiveToken2',
        active: false,
        page: null,
      },
      { id: '17841400000777003', token: 'EAAGsimaccountsNoPageToken3', active: true, page: null },
    ];
    for (const account of accounts) {
      const sealed = await crypto.encrypt(
        { ig_business_id: account.id, client_id: client.client_id },
        account.token,
      );
      await database.db
        .insertInto('ig_accounts')
        .values({
          ig_business_id: account.id,
          client_id: client.client_id,
          username: `user_${account.id.slice(-3)}`,
          page_id: account.page,
          active: account.active,
          ...encryptedTokenColumns(sealed),
        })
        .execute();
    }

    const result = await registerStoredAccounts(
      { ...process.env, ...env, DATABASE_URL: database.url },
      simulator.url,
    );
    expect(result).toEqual({ registered: 2, skipped: 0 });

    const listed = (await (await fetch(`${simulator.url}/_sim/accounts`)).json()) as {
      accounts: Array<{ ig_business_id: string; page_id: string; token_fingerprint: string }>;
    };
    const byId = new Map(listed.accounts.map((account) => [account.ig_business_id, account]));
    expect(byId.get('17841400000777001')).toMatchObject({
      page_id: '1200',
      token_fingerprint: tokenFingerprint('EAAGsimaccountsActiveToken1'),
    });
    expect(byId.get('17841400000777003')?.page_id).toBe('17841400000777003');
    expect(byId.has('17841400000777002')).toBe(false);
  });
});
