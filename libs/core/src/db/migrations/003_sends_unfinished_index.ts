import { type Kysely, sql } from 'kysely';

/**
 * Indexes the `sends` rows whose result is not published yet (`completed_at` is null): parked,
 * pending and in-flight commands, and final rows a crash left unmarked. The sender reads them
 * when it takes over partitions and when it resumes or expires parked commands, so these reads
 * stay small while the table grows with every command sent.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create index if not exists sends_unfinished_idx
    on sends (ig_business_id, state)
    where completed_at is null
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists sends_unfinished_idx`.execute(db);
}
