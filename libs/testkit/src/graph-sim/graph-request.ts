import { GraphErrors, type GraphFailure } from './graph-errors.js';
import type { ParsedBody } from './http.js';
import type { SimAccount } from './schemas.js';
import type { SimulatorState } from './state.js';

/** A Graph API request after routing and token extraction. */
export interface GraphRequest {
  method: string;
  /** Path segments after the version, such as `['17841400000000001', 'messages']`. */
  segments: string[];
  query: URLSearchParams;
  body: ParsedBody;
  /** The token from the Authorization header; null when missing or sent in the wrong place. */
  token: string | null;
  commandId: string | null;
}

/** The response to a Graph API request, which the server writes after `latencyMs`. */
export interface GraphOutcome {
  status: number;
  body: unknown;
  /** Account reported in `X-Business-Use-Case-Usage`. */
  igBusinessId: string | null;
  latencyMs: number;
  /** Close the socket without a response. */
  dropConnection: boolean;
  /** Overrides `estimated_time_to_regain_access` in the usage header. */
  regainMinutes?: number;
}

export function okOutcome(body: unknown, igBusinessId: string | null): GraphOutcome {
  return { status: 200, body, igBusinessId, latencyMs: 0, dropConnection: false };
}

export function errorOutcome(
  state: SimulatorState,
  failure: GraphFailure,
  igBusinessId: string | null,
): GraphOutcome {
  return {
    status: failure.status,
    body: { error: { ...failure.error, fbtrace_id: state.nextTraceId() } },
    igBusinessId,
    latencyMs: 0,
    dropConnection: false,
  };
}

export type AuthResult = { ok: true; account: SimAccount } | { ok: false; failure: GraphFailure };

/** Resolves the request's token to a registered account whose token is valid and unexpired. */
export function authenticate(
  state: SimulatorState,
  token: string | null,
  pathKind: 'me' | 'other',
): AuthResult {
  if (token === null) return { ok: false, failure: GraphErrors.tokenMissing(pathKind) };

  const account = state.accountByToken(token);
  if (account === undefined) return { ok: false, failure: GraphErrors.tokenUnknown() };
  if (!account.is_valid) return { ok: false, failure: GraphErrors.tokenInvalidated() };
  if (isExpired(account, state.now())) {
    return { ok: false, failure: GraphErrors.tokenExpired(account.expires_at) };
  }
  return { ok: true, account };
}

export function isExpired(account: SimAccount, nowMs: number): boolean {
  return account.expires_at !== 0 && account.expires_at * 1000 <= nowMs;
}
