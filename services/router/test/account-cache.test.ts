import { AccountChangeListener, createDatabase, type IgRouterError } from '@ig-router/core';
import {
  captureLogger,
  createTestDatabase,
  eventually,
  type TestDatabase,
} from '@ig-router/testkit';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccountCache } from '../src/account-cache.js';
import { RouterErrorCodes } from '../src/errors.js';
import { createRouterMetrics, type RouterMetrics } from '../src/metrics.js';
import { type SeededAccount, seedAccount } from './helpers.js';

async function lookupCount(metrics: RouterMetrics, result: string): Promise<number> {
  return (
    (await metrics.accountLookups.get()).values.find((value) => value.labels.result === result)
      ?.value ?? 0
  );
}

describe('AccountCache', () => {
  let database: TestDatabase;
  let listener: AccountChangeListener;
  let cache: AccountCache;
  let metrics: RouterMetrics;
  let shop: SeededAccount;
  const logger = captureLogger('router').logger;

  beforeAll(async () => {
    database = await createTestDatabase('account_cache');
    shop = await seedAccount(database.db, {
      ig_business_id: '17841400000007001',
      username: 'shop',
    });
    metrics = createRouterMetrics(new Registry());
    listener = new AccountChangeListener(database.url, logger);
    cache = new AccountCache(database.db, { ttlMs: 60_000, logger, metrics });
    cache.follow(listener);
    await listener.start();
  });

  afterAll(async () => {
    cache?.unfollow();
    await listener?.stop();
    await database?.drop();
  });

  it('resolves registered accounts and reports unknown ids as null', async () => {
    const accounts = await cache.lookup(['17841400000007001', '17841400000007999']);
    expect(accounts.get('17841400000007001')).toEqual({
      ig_business_id: '17841400000007001',
      client_id: shop.client_id,
      account_name: 'shop',
      active: true,
    });
    expect(accounts.get('17841400000007999')).toBeNull();
  });

  it('serves repeated lookups from the cache', async () => {
    const missesBefore = await lookupCount(metrics, 'miss');
    await cache.lookup(['17841400000007001', '17841400000007999']);
    expect(await lookupCount(metrics, 'miss')).toBe(missesBefore);
  });

  it('evicts an account when ig_accounts changes', async () => {
    await database.db
      .updateTable('ig_accounts')
      .set({ active: false })
      .where('ig_business_id', '=', '17841400000007001')
      .execute();
    await eventually(
      'the deactivation to reach the cache',
      async () => {
        const accounts = await cache.lookup(['17841400000007001']);
        return accounts.get('17841400000007001')?.active === false;
      },
      5_000,
      20,
    );

    await seedAccount(database.db, { ig_business_id: '17841400000007999', username: 'new' });
    await eventually(
      'the new account to reach the cache',
      async () => {
        const accounts = await cache.lookup(['17841400000007999']);
        return accounts.get('17841400000007999')?.account_name === 'new';
      },
      5_000,
      20,
    );
  });

  it('does not cache a lookup that raced with a change', async () => {
    const pending = cache.lookup(['17841400000007002']);
    cache.evict('17841400000007002');
    expect((await pending).get('17841400000007002')).toBeNull();

    const missesBefore = await lookupCount(metrics, 'miss');
    await cache.lookup(['17841400000007002']);
    expect(await lookupCount(metrics, 'miss')).toBe(missesBefore + 1);
  });

  it('drops every entry on resync', async () => {
    await cache.lookup(['17841400000007001']);
    const missesBefore = await lookupCount(metrics, 'miss');
    listener.emit('resync');
    await cache.lookup(['17841400000007001']);
    expect(await lookupCount(metrics, 'miss')).toBe(missesBefore + 1);
  });

  it('raises ACCOUNT_LOOKUP_FAILED, not unknown, when PostgreSQL is unreachable', async () => {
    const unreachable = new URL(database.url);
    unreachable.port = '9';
    const handle = createDatabase({ DATABASE_URL: unreachable.toString() }, 1);
    const offline = new AccountCache(handle.db, { ttlMs: 60_000, logger });
    try {
      const failure = await offline.lookup(['17841400000007001']).then(
        () => undefined,
        (err: unknown) => err as IgRouterError,
      );
      expect(failure?.code).toBe(RouterErrorCodes.ACCOUNT_LOOKUP_FAILED);
    } finally {
      await handle.close();
    }
  });
});
