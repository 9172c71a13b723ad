import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';

// Return int8 (bigint) columns as strings: counts and offsets may exceed 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => value);

export interface DatabaseSettings {
  DATABASE_URL: string;
}

export interface DatabaseHandle {
  db: Kysely<Database>;
  pool: pg.Pool;
  close(): Promise<void>;
}

/** Creates a pooled kysely instance. The pool reconnects by itself after a database restart. */
export function createDatabase(settings: DatabaseSettings, maxConnections = 10): DatabaseHandle {
  const pool = new pg.Pool({
    connectionString: settings.DATABASE_URL,
    max: maxConnections,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client that loses its connection emits 'error' on the pool; without a listener
  // that would crash the process. The next query opens a new connection.
  pool.on('error', () => {});
  // A checked-out client has no pool listener, so an error between its queries (a server
  // shutdown inside a transaction) would crash the process; the next query fails instead.
  pool.on('connect', (client) => client.on('error', () => {}));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    pool,
    close: () => db.destroy(),
  };
}
