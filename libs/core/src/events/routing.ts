import type { UnroutedReason } from './records.js';

/** The routing fields of an `ig_accounts` row. */
export interface RoutingAccount {
  ig_business_id: string;
  client_id: string;
  /** The account's username, written to events as `account_name`. */
  account_name: string;
  active: boolean;
}

/**
 * Decides whether an entry is routed: returns null when its account is active, else the reason
 * the router writes it to `ig.events.unrouted`. `account` is null or undefined when no
 * `ig_accounts` row has the id.
 */
export function unroutedReasonFor(
  entryId: string | null,
  account: RoutingAccount | null | undefined,
): UnroutedReason | null {
  if (entryId === null) return 'missing_account_id';
  if (!account) return 'unknown_account';
  if (!account.active) return 'inactive_account';
  return null;
}
