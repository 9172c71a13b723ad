import type { AccountChange, Database, Logger, RoutingAccount } from '@ig-router/core';
import { type Kysely, sql } from 'kysely';
import { AccountLookupError } from './errors.js';
import type { RouterMetrics } from './metrics.js';

/** The events of `AccountChangeListener` that the cache follows. */
export interface AccountChangeSource {
  on(event: 'change', listener: (change: AccountChange) => void): unknown;
  on(event: 'resync', listener: () => void): unknown;
  off(event: 'change', listener: (change: AccountChange) => void): unknown;
  off(event: 'resync', listener: () => void): unknown;
}

export interface AccountCacheOptions {
  /** Time a looked-up account (or its absence) stays cached without a change notification. */
  ttlMs: number;
  logger: Logger;
  metrics?: RouterMetrics | undefined;
  /** Above this many entries, expired entries are dropped, and everything if that is not enough. */
  maxEntries?: number;
}

interface CachedAccount {
  /** null records that no `ig_accounts` row has this id. */
  account: RoutingAccount | null;
  expiresAt: number;
}

/** A lookup in progress; changes that arrive meanwhile keep its rows out of the cache. */
interface InflightLookup {
  ids: ReadonlySet<string>;
  changed: Set<string>;
  resynced: boolean;
}

/**
 * In-process cache of `ig_accounts` routing fields. A change notification evicts the account
 * at once, so a deactivation takes effect on the next lookup. A resync, sent when the LISTEN
 * connection was lost or re-established, drops everything. The TTL bounds staleness while
 * notifications are not arriving.
 *
 * A lookup that fails because PostgreSQL is unreachable raises `AccountLookupError`; it never
 * reports an account as unknown.
 */
export class AccountCache {
  private readonly entries = new Map<string, CachedAccount>();
  private readonly inflight = new Set<InflightLookup>();
  private readonly maxEntries: number;
  private readonly onChange = (change: AccountChange) => this.evict(change.ig_business_id);
  private readonly onResync = () => this.clear();
  private source: AccountChangeSource | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly options: AccountCacheOptions,
  ) {
    this.maxEntries = options.maxEntries ?? 200_000;
  }

  /** Starts following change notifications from `source`. */
  follow(source: AccountChangeSource): void {
    this.unfollow();
    this.source = source;
    source.on('change', this.onChange);
    source.on('resync', this.onResync);
  }

  unfollow(): void {
    this.source?.off('change', this.onChange);
    this.source?.off('resync', this.onResync);
    this.source = undefined;
  }

  evict(igBusinessId: string): void {
    this.entries.delete(igBusinessId);
    for (const lookup of this.inflight) {
      if (lookup.ids.has(igBusinessId)) lookup.changed.add(igBusinessId);
    }
  }

  clear(): void {
    this.entries.clear();
    for (const lookup of this.inflight) lookup.resynced = true;
  }

  /**
   * Resolves each id to its account, or to null when `ig_accounts` has no such row.
   * Ids missing from the cache are read in one query.
   */
  async lookup(ids: Iterable<string>): Promise<Map<string, RoutingAccount | null>> {
    const now = Date.now();
    const result = new Map<string, RoutingAccount | null>();
    const missing = new Set<string>();
    for (const id of ids) {
      if (result.has(id) || missing.has(id)) continue;
      const cached = this.entries.get(id);
      if (cached && cached.expiresAt > now) {
        result.set(id, cached.account);
      } else {
        missing.add(id);
      }
    }
    this.options.metrics?.accountLookups.inc({ result: 'hit' }, result.size);
    if (missing.size === 0) return result;

    const lookup: InflightLookup = { ids: missing, changed: new Set(), resynced: false };
    this.inflight.add(lookup);
    let rows: RoutingAccount[];
    try {
      rows = await this.query([...missing]);
    } catch (err) {
      this.options.metrics?.accountLookups.inc({ result: 'error' }, missing.size);
      throw new AccountLookupError(missing.size, err);
    } finally {
      this.inflight.delete(lookup);
    }
    this.options.metrics?.accountLookups.inc({ result: 'miss' }, missing.size);

    const byId = new Map(rows.map((row) => [row.ig_business_id, row]));
    const expiresAt = Date.now() + this.options.ttlMs;
    for (const id of missing) {
      const account = byId.get(id) ?? null;
      result.set(id, account);
      if (this.options.ttlMs > 0 && !lookup.resynced && !lookup.changed.has(id)) {
        this.entries.set(id, { account, expiresAt });
      }
    }
    this.bound();
    return result;
  }

  private async query(ids: string[]): Promise<RoutingAccount[]> {
    return this.db
      .selectFrom('ig_accounts')
      .select(['ig_business_id', 'client_id', 'username as account_name', 'active'])
      .where('ig_business_id', '=', sql<string>`any(${ids}::text[])`)
      .execute();
  }

  private bound(): void {
    if (this.entries.size <= this.maxEntries) return;
    const now = Date.now();
    for (const [id, cached] of this.entries) {
      if (cached.expiresAt <= now) this.entries.delete(id);
    }
    if (this.entries.size > this.maxEntries) {
      this.options.logger.warn(
        { entries: this.entries.size, max_entries: this.maxEntries },
        'account cache is full; dropping every entry',
      );
      this.entries.clear();
    }
  }
}
