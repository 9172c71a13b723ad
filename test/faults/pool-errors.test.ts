import { createDatabase } from '@ig-router/core';
import { testEnv } from '@ig-router/testkit';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';

// PostgreSQL's fast shutdown ends every backend with FATAL 57P01. A pooled client that is
// checked out inside a transaction has no pool error listener, and the 'error' event it emitted
// between two queries crashed the router during the fault suite's PostgreSQL restart.
describe('database pool', () => {
  it('survives a backend ended inside a transaction', async () => {
    const handle = createDatabase({ DATABASE_URL: testEnv().DATABASE_URL }, 2);
    try {
      const failure = await handle.db
        .transaction()
        .execute(async (trx) => {
          const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
          // Only this transaction's own backend is ended, from the pool's second connection.
          await handle.pool.query('select pg_terminate_backend($1)', [rows[0]?.pid]);
          await new Promise((resolveWait) => setTimeout(resolveWait, 300));
          await sql`select 1`.execute(trx);
        })
        .then(
          () => undefined,
          (err: unknown) => err as Error,
        );
      expect(failure?.message).toMatch(/not queryable|terminating connection/);

      const after = await handle.pool.query('select 1 as ok');
      expect(after.rows[0]).toEqual({ ok: 1 });
    } finally {
      await handle.close();
    }
  });
});
