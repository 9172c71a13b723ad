import {
  type Database,
  type EncryptedToken,
  encryptedTokenColumns,
  type IgAccount,
  type RoutingAccount,
} from '@ig-router/core';
import { type Kysely, sql } from 'kysely';
import { CliError, CliErrorCodes, ExitCodes } from './errors.js';

// Queries on `clients` and `ig_accounts` shared by the commands. Token columns are selected
// only where a token is decrypted, so listings never load ciphertext.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DIGITS = /^\d{1,64}$/;

/** True for PostgreSQL's unique_violation (SQLSTATE 23505). */
export function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === '23505';
}

/** Checks that a client id is a UUID before it reaches PostgreSQL, naming the option. */
export function validateClientId(clientId: string, option = '--client'): string {
  if (!UUID.test(clientId)) {
    throw new CliError(
      CliErrorCodes.USAGE_INVALID,
      `${option} ${JSON.stringify(clientId)} is not a client id; expected a UUID as printed by igr clients create or igr clients list`,
      { exitCode: ExitCodes.USAGE },
    );
  }
  return clientId.toLowerCase();
}

/** Checks that an Instagram account id is a string of digits, naming the option. */
export function validateIgBusinessId(igBusinessId: string, option: string): string {
  if (!DIGITS.test(igBusinessId)) {
    throw new CliError(
      CliErrorCodes.USAGE_INVALID,
      `${option} ${JSON.stringify(igBusinessId)} is not an Instagram account id; expected digits such as 17841400000000001`,
      { exitCode: ExitCodes.USAGE },
    );
  }
  return igBusinessId;
}

/** Returns the client or throws CLIENT_NOT_FOUND with the way to find valid ids. */
export async function requireClient(
  db: Kysely<Database>,
  clientId: string,
): Promise<{ client_id: string; name: string }> {
  const client = await db
    .selectFrom('clients')
    .select(['client_id', 'name'])
    .where('client_id', '=', clientId)
    .executeTakeFirst();
  if (!client) {
    throw new CliError(
      CliErrorCodes.CLIENT_NOT_FOUND,
      `client ${clientId} not found; list clients with igr clients list`,
    );
  }
  return client;
}

/** Account columns without the token, for listings and ownership checks. */
export type AccountSummary = Omit<
  IgAccount,
  'token_encrypted_key' | 'token_iv' | 'token_ciphertext' | 'token_auth_tag' | 'token_kms_key_id'
>;

const summaryColumns = [
  'ig_business_id',
  'client_id',
  'username',
  'page_id',
  'token_expires_at',
  'active',
  'created_at',
  'updated_at',
] as const;

export async function findAccount(
  db: Kysely<Database>,
  igBusinessId: string,
): Promise<AccountSummary | undefined> {
  return db
    .selectFrom('ig_accounts')
    .select(summaryColumns)
    .where('ig_business_id', '=', igBusinessId)
    .executeTakeFirst();
}

/** Returns the account or throws ACCOUNT_NOT_FOUND with the way to find valid ids. */
export async function requireAccount(
  db: Kysely<Database>,
  igBusinessId: string,
): Promise<AccountSummary> {
  const account = await findAccount(db, igBusinessId);
  if (!account) {
    throw new CliError(
      CliErrorCodes.ACCOUNT_NOT_FOUND,
      `account ${igBusinessId} not found; list accounts with igr accounts list`,
    );
  }
  return account;
}

export async function listAccounts(
  db: Kysely<Database>,
  clientId?: string,
): Promise<AccountSummary[]> {
  let query = db.selectFrom('ig_accounts').select(summaryColumns);
  if (clientId) query = query.where('client_id', '=', clientId);
  return query.orderBy('client_id').orderBy('username').orderBy('ig_business_id').execute();
}

/** Lists accounts with their sealed tokens, for commands that decrypt them. */
export async function listAccountsWithTokens(
  db: Kysely<Database>,
  filter: { igBusinessId?: string; clientId?: string; includeInactive: boolean },
): Promise<IgAccount[]> {
  let query = db.selectFrom('ig_accounts').selectAll();
  if (filter.igBusinessId) query = query.where('ig_business_id', '=', filter.igBusinessId);
  if (filter.clientId) query = query.where('client_id', '=', filter.clientId);
  if (!filter.includeInactive) query = query.where('active', '=', true);
  return query.orderBy('ig_business_id').execute();
}

/** Throws ACCOUNT_OWNED_BY_OTHER_CLIENT when the account exists under another client. */
export function assertSameClient(account: AccountSummary | undefined, clientId: string): void {
  if (account && account.client_id !== clientId) {
    throw new CliError(
      CliErrorCodes.ACCOUNT_OWNED_BY_OTHER_CLIENT,
      `account ${account.ig_business_id} (@${account.username}) belongs to client ${account.client_id}, not ${clientId}; moving an account between clients is not supported, so deactivate it there and ask the operator who owns it`,
    );
  }
}

export interface AccountUpsert {
  ig_business_id: string;
  client_id: string;
  username: string;
  page_id: string | null;
  sealed: EncryptedToken;
}

/**
 * Inserts the account, or updates token, username, Page and sets it active when it already
 * exists under the same client. One statement, so a concurrent change under another client
 * cannot slip in between check and write. Returns whether the row was created.
 */
export async function upsertActiveAccount(
  db: Kysely<Database>,
  account: AccountUpsert,
): Promise<{ created: boolean }> {
  const tokenColumns = encryptedTokenColumns(account.sealed);
  const row = await db
    .insertInto('ig_accounts')
    .values({
      ig_business_id: account.ig_business_id,
      client_id: account.client_id,
      username: account.username,
      page_id: account.page_id,
      ...tokenColumns,
      token_expires_at: null,
      active: true,
    })
    .onConflict((conflict) =>
      conflict
        .column('ig_business_id')
        .doUpdateSet((eb) => ({
          username: eb.ref('excluded.username'),
          page_id: eb.fn.coalesce('excluded.page_id', 'ig_accounts.page_id'),
          token_encrypted_key: eb.ref('excluded.token_encrypted_key'),
          token_iv: eb.ref('excluded.token_iv'),
          token_ciphertext: eb.ref('excluded.token_ciphertext'),
          token_auth_tag: eb.ref('excluded.token_auth_tag'),
          token_kms_key_id: eb.ref('excluded.token_kms_key_id'),
          token_expires_at: null,
          active: true,
          updated_at: new Date(),
        }))
        .where('ig_accounts.client_id', '=', account.client_id),
    )
    // xmax is 0 for a freshly inserted row version and non-zero for an updated one.
    .returning(sql<boolean>`(xmax = 0)`.as('created'))
    .executeTakeFirst();

  if (!row) {
    assertSameClient(await findAccount(db, account.ig_business_id), account.client_id);
    throw new Error(`upsert of account ${account.ig_business_id} returned no row`);
  }
  return { created: row.created };
}

/** Replaces the sealed token of an account; the caller has checked that the account exists. */
export async function storeToken(
  db: Kysely<Database>,
  igBusinessId: string,
  clientId: string,
  sealed: EncryptedToken,
): Promise<void> {
  await db
    .updateTable('ig_accounts')
    .set({ ...encryptedTokenColumns(sealed), token_expires_at: null, updated_at: new Date() })
    .where('ig_business_id', '=', igBusinessId)
    .where('client_id', '=', clientId)
    .executeTakeFirstOrThrow();
}

/** Sets `active`; returns false when the account was already in that state. */
export async function setAccountActive(
  db: Kysely<Database>,
  igBusinessId: string,
  active: boolean,
): Promise<boolean> {
  const result = await db
    .updateTable('ig_accounts')
    .set({ active, updated_at: new Date() })
    .where('ig_business_id', '=', igBusinessId)
    .where('active', '=', !active)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/**
 * Reads the routing fields of the given accounts in one query, with the same columns as the
 * router's account cache. Ids without a row are absent from the result.
 */
export async function findRoutingAccounts(
  db: Kysely<Database>,
  igBusinessIds: string[],
): Promise<RoutingAccount[]> {
  if (igBusinessIds.length === 0) return [];
  return db
    .selectFrom('ig_accounts')
    .select(['ig_business_id', 'client_id', 'username as account_name', 'active'])
    .where('ig_business_id', '=', sql<string>`any(${igBusinessIds}::text[])`)
    .execute();
}
