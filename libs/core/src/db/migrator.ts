import { type Kysely, type Migration, type MigrationResultSet, Migrator } from 'kysely';
import { ErrorCodes, IgRouterError } from '../errors.js';
import * as m001 from './migrations/001_initial.js';
import * as m002 from './migrations/002_account_notify.js';
import * as m003 from './migrations/003_sends_unfinished_index.js';
import type { Database } from './schema.js';

/**
 * Ordered migrations. They are imported, not read from a folder, so the same list runs from
 * TypeScript sources and from compiled output.
 */
export const migrations: Record<string, Migration> = {
  '001_initial': m001,
  '002_account_notify': m002,
  '003_sends_unfinished_index': m003,
};

export function createMigrator(db: Kysely<Database>): Migrator {
  return new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    migrationTableName: 'igr_migrations',
    migrationLockTableName: 'igr_migrations_lock',
  });
}

export class MigrationError extends IgRouterError {
  constructor(migrationName: string | undefined, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      ErrorCodes.MIGRATION_FAILED,
      `Migration ${migrationName ?? '(unknown)'} failed: ${reason}`,
      { cause },
    );
    this.name = 'MigrationError';
  }
}

function checkResult(resultSet: MigrationResultSet): string[] {
  if (resultSet.error) {
    const failed = resultSet.results?.find((result) => result.status === 'Error');
    throw new MigrationError(failed?.migrationName, resultSet.error);
  }
  return (resultSet.results ?? []).map((result) => result.migrationName);
}

/** Applies every pending migration; returns the names applied. */
export async function migrateUp(db: Kysely<Database>): Promise<string[]> {
  return checkResult(await createMigrator(db).migrateToLatest());
}

/** Reverts the latest migration, or all of them with `all`; returns the names reverted. */
export async function migrateDown(db: Kysely<Database>, all = false): Promise<string[]> {
  const migrator = createMigrator(db);
  if (all) {
    const { NO_MIGRATIONS } = await import('kysely');
    return checkResult(await migrator.migrateTo(NO_MIGRATIONS));
  }
  return checkResult(await migrator.migrateDown());
}
