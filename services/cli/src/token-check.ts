import {
  encryptedTokenFromRow,
  type GraphClient,
  GraphError,
  type IgAccount,
  scrubSecrets,
  type TokenCrypto,
} from '@ig-router/core';

/** Permissions without which an account cannot receive or send messages. */
export const REQUIRED_SCOPES = [
  'instagram_basic',
  'instagram_manage_messages',
  'pages_manage_metadata',
];

/**
 * Outcome of one token check. `invalid`, `expiring` and `missing_scopes` need an operator
 * (exit code 2); `error` means the check itself could not run (exit code 1).
 */
export type TokenStatus = 'ok' | 'expiring' | 'invalid' | 'missing_scopes' | 'error';

export interface TokenCheck {
  ig_business_id: string;
  client_id: string;
  username: string;
  active: boolean;
  status: TokenStatus;
  /** Expiry reported by debug_token, ISO-8601; null when the token never expires or is unknown. */
  expires_at: string | null;
  /** Whole days until expiry, rounded down; null when the token never expires or is unknown. */
  days_left: number | null;
  detail: string;
}

export interface TokenCheckSettings {
  /** `META_APP_ID|META_APP_SECRET`; never printed or logged. */
  appToken: string;
  appId: string;
  /** Tokens that expire within this many milliseconds are reported as `expiring`. */
  warnWithinMs: number;
  now: number;
}

const DAY_MS = 86_400_000;

/**
 * Decrypts an account's token and inspects it with Graph `debug_token`. Decrypt and Graph
 * failures are returned as status `error`, not thrown.
 */
export async function checkAccountToken(
  account: IgAccount,
  crypto: TokenCrypto,
  graph: GraphClient,
  settings: TokenCheckSettings,
): Promise<TokenCheck> {
  const result: TokenCheck = {
    ig_business_id: account.ig_business_id,
    client_id: account.client_id,
    username: account.username,
    active: account.active,
    status: 'ok',
    expires_at: null,
    days_left: null,
    detail: '',
  };

  let token: string;
  try {
    token = await crypto.decrypt(
      { ig_business_id: account.ig_business_id, client_id: account.client_id },
      encryptedTokenFromRow(account),
    );
  } catch (err) {
    return { ...result, status: 'error', detail: `decrypt failed: ${(err as Error).message}` };
  }

  const checked = await inspectToken(result, account.ig_business_id, token, graph, settings);
  // Meta's messages do not quote tokens today; scrubbing keeps that true if they start to.
  return { ...checked, detail: scrubSecrets(checked.detail, [token, settings.appToken]) };
}

async function inspectToken(
  result: TokenCheck,
  igBusinessId: string,
  token: string,
  graph: GraphClient,
  settings: TokenCheckSettings,
): Promise<TokenCheck> {
  let info: Awaited<ReturnType<GraphClient['debugToken']>>['data'];
  try {
    info = (await graph.debugToken(token, settings.appToken)).data;
  } catch (err) {
    const message = err instanceof GraphError ? err.message : (err as Error).message;
    return { ...result, status: 'error', detail: `debug_token failed: ${message}` };
  }

  // Meta reports 0 for tokens that do not expire, such as long-lived Page tokens.
  if (info.expires_at !== undefined && info.expires_at > 0) {
    const expiresMs = info.expires_at * 1000;
    result.expires_at = new Date(expiresMs).toISOString();
    result.days_left = Math.floor((expiresMs - settings.now) / DAY_MS);
  }

  if (!info.is_valid) {
    const code =
      info.error?.code === undefined
        ? ''
        : ` (code ${info.error.code}${info.error.subcode ? `/${info.error.subcode}` : ''})`;
    return {
      ...result,
      status: 'invalid',
      detail: `${info.error?.message ?? 'debug_token reports the token as invalid'}${code}; pipe a new token into igr accounts rotate-token ${igBusinessId} --token-stdin`,
    };
  }
  if (info.app_id !== undefined && info.app_id !== settings.appId) {
    return {
      ...result,
      status: 'invalid',
      detail: `the token belongs to app ${info.app_id}, not META_APP_ID ${settings.appId}; generate a token for this app`,
    };
  }
  if (
    result.expires_at !== null &&
    Date.parse(result.expires_at) - settings.now < settings.warnWithinMs
  ) {
    return {
      ...result,
      status: 'expiring',
      detail: `expires in ${result.days_left} days; pipe a new token into igr accounts rotate-token ${igBusinessId} --token-stdin`,
    };
  }
  const missing = info.scopes
    ? REQUIRED_SCOPES.filter((scope) => !info.scopes?.includes(scope))
    : [];
  if (missing.length > 0) {
    return {
      ...result,
      status: 'missing_scopes',
      detail: `missing permissions ${missing.join(', ')}; grant them and generate a new token`,
    };
  }
  return { ...result, detail: result.expires_at === null ? 'valid, does not expire' : 'valid' };
}
