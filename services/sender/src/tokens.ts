import {
  type AccountChangeListener,
  type Database,
  ErrorCodes,
  encryptedTokenFromRow,
  type Logger,
  type TokenCrypto,
  TokenCryptoError,
} from '@ig-router/core';
import type { Kysely } from 'kysely';
import { AccountInactiveError, AccountUnknownError } from './errors.js';

/** The columns of an `ig_accounts` row the sender needs, without the token. */
export interface AccountRecord {
  ig_business_id: string;
  client_id: string;
  username: string;
  active: boolean;
}

export interface AccountWithToken {
  account: AccountRecord;
  token: string;
}

type CacheEntry =
  | { kind: 'token'; account: AccountRecord; token: string; expiresAt: number }
  | { kind: 'error'; account: AccountRecord | null; error: Error; expiresAt: number };

/**
 * Loads accounts and decrypts their Page access tokens at send time. A decrypted token stays
 * in memory for at most `ttlMs` and is dropped as soon as Postgres notifies a change of the
 * account; with `ttlMs` 0 every send decrypts again. Unknown and inactive accounts and tokens
 * that fail authentication are cached the same way, so a burst for a broken account costs one
 * database read and one KMS call.
 */
export class AccountTokens {
  private readonly entries = new Map<string, CacheEntry>();
  private readonly loads = new Map<string, Promise<CacheEntry>>();
  /** Incremented per account on every change, so a load that raced with a change is not kept. */
  private readonly generations = new Map<string, number>();
  private readonly purgeTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly crypto: TokenCrypto,
    private readonly ttlMs: number,
    private readonly logger: Logger,
    private readonly clock: () => number = Date.now,
  ) {
    if (ttlMs > 0) {
      this.purgeTimer = setInterval(() => this.purgeExpired(), Math.max(1_000, ttlMs));
      this.purgeTimer.unref();
    }
  }

  /**
   * Returns the active account and its decrypted token. Throws AccountUnknownError,
   * AccountInactiveError, or TokenCryptoError (TOKEN_CONTEXT_MISMATCH when the ciphertext
   * belongs to another account or client, TOKEN_DECRYPT_FAILED when KMS failed).
   */
  async get(igBusinessId: string): Promise<AccountWithToken> {
    const entry = await this.entry(igBusinessId);
    if (entry.kind === 'error') throw entry.error;
    return { account: entry.account, token: entry.token };
  }

  /** Returns the account row without decrypting its token; null when it is unknown. */
  async account(igBusinessId: string): Promise<AccountRecord | null> {
    const entry = await this.entry(igBusinessId);
    return entry.account;
  }

  /** Drops what is cached for one account. */
  invalidate(igBusinessId: string): void {
    this.generations.set(igBusinessId, (this.generations.get(igBusinessId) ?? 0) + 1);
    this.entries.delete(igBusinessId);
  }

  /** Drops every cached account, after notifications may have been lost. */
  clear(): void {
    for (const igBusinessId of [...this.entries.keys(), ...this.loads.keys()]) {
      this.invalidate(igBusinessId);
    }
  }

  /** Subscribes to account changes; returns the function that unsubscribes. */
  attach(listener: AccountChangeListener): () => void {
    const onChange = (change: { ig_business_id: string }) => this.invalidate(change.ig_business_id);
    const onResync = () => this.clear();
    listener.on('change', onChange);
    listener.on('resync', onResync);
    return () => {
      listener.off('change', onChange);
      listener.off('resync', onResync);
    };
  }

  close(): void {
    clearInterval(this.purgeTimer);
    this.entries.clear();
  }

  private async entry(igBusinessId: string): Promise<CacheEntry> {
    const cached = this.entries.get(igBusinessId);
    if (cached && cached.expiresAt > this.clock()) return cached;
    if (cached) this.entries.delete(igBusinessId);

    const running = this.loads.get(igBusinessId);
    if (running) return running;

    const generation = this.generations.get(igBusinessId) ?? 0;
    const load = this.load(igBusinessId).finally(() => this.loads.delete(igBusinessId));
    this.loads.set(igBusinessId, load);
    const entry = await load;
    if (this.ttlMs > 0 && (this.generations.get(igBusinessId) ?? 0) === generation) {
      this.entries.set(igBusinessId, entry);
    }
    return entry;
  }

  private async load(igBusinessId: string): Promise<CacheEntry> {
    const expiresAt = this.clock() + this.ttlMs;
    const row = await this.db
      .selectFrom('ig_accounts')
      .select([
        'ig_business_id',
        'client_id',
        'username',
        'active',
        'token_encrypted_key',
        'token_iv',
        'token_ciphertext',
        'token_auth_tag',
        'token_kms_key_id',
      ])
      .where('ig_business_id', '=', igBusinessId)
      .executeTakeFirst();
    if (!row) {
      return {
        kind: 'error',
        account: null,
        error: new AccountUnknownError(igBusinessId),
        expiresAt,
      };
    }

    const account: AccountRecord = {
      ig_business_id: row.ig_business_id,
      client_id: row.client_id,
      username: row.username,
      active: row.active,
    };
    if (!row.active) {
      return { kind: 'error', account, error: new AccountInactiveError(igBusinessId), expiresAt };
    }

    try {
      const token = await this.crypto.decrypt(
        { ig_business_id: row.ig_business_id, client_id: row.client_id },
        encryptedTokenFromRow(row),
      );
      return { kind: 'token', account, token, expiresAt };
    } catch (err) {
      if (!(err instanceof TokenCryptoError)) throw err;
      this.logger.error(
        { ig_business_id: igBusinessId, client_id: row.client_id, err },
        'token decryption failed',
      );
      // A failed KMS call may succeed on the next send; a token sealed for another owner never.
      if (err.code !== ErrorCodes.TOKEN_CONTEXT_MISMATCH) throw err;
      return { kind: 'error', account, error: err, expiresAt };
    }
  }

  private purgeExpired(): void {
    const now = this.clock();
    for (const [igBusinessId, entry] of this.entries) {
      if (entry.expiresAt <= now) this.entries.delete(igBusinessId);
    }
  }
}
