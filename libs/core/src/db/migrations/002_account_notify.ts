import { type Kysely, sql } from 'kysely';

/** Channel on which every change to `ig_accounts` is published. */
export const ACCOUNT_CHANGES_CHANNEL = 'ig_accounts_changed';

export async function up(db: Kysely<unknown>): Promise<void> {
  // The payload carries ids and the active flag only: never token columns, because any
  // session on the database can LISTEN.
  await sql`
    create or replace function ig_accounts_notify() returns trigger
    language plpgsql as $$
    declare
      row_data record;
    begin
      if tg_op = 'DELETE' then
        row_data := old;
      else
        row_data := new;
      end if;
      perform pg_notify(
        'ig_accounts_changed',
        json_build_object(
          'op', lower(tg_op),
          'ig_business_id', row_data.ig_business_id,
          'client_id', row_data.client_id,
          'active', row_data.active
        )::text
      );
      return null;
    end;
    $$
  `.execute(db);
  await sql`
    create trigger ig_accounts_notify_trigger
    after insert or update or delete on ig_accounts
    for each row execute function ig_accounts_notify()
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop trigger if exists ig_accounts_notify_trigger on ig_accounts`.execute(db);
  await sql`drop function if exists ig_accounts_notify()`.execute(db);
}
