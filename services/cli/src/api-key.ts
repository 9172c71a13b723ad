import { createHash, randomBytes } from 'node:crypto';

/** Prefix of every client API key, so a leaked key is recognisable in secret scanners. */
export const API_KEY_PREFIX = 'igr_';

/** Characters of the key stored in clear in `clients.api_key_prefix`, to tell keys apart. */
export const API_KEY_DISPLAY_LENGTH = 8;

export interface NewApiKey {
  /** The key itself: shown to the operator once, never stored. */
  apiKey: string;
  /** SHA-256 of the key in lowercase hex, stored in `clients.api_key_hash`. */
  hash: string;
  /** First 8 characters of the key, stored in `clients.api_key_prefix`. */
  prefix: string;
}

/**
 * Returns the SHA-256 of an API key in lowercase hex. The gateway computes the same hash, so
 * both sides must keep this exact form.
 */
export function hashApiKey(apiKey: string): string {
  return createHash('sha256').update(apiKey, 'utf8').digest('hex');
}

/** Generates a client API key: `igr_` and 32 random bytes in base64url. */
export function generateApiKey(): NewApiKey {
  const apiKey = `${API_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
  return {
    apiKey,
    hash: hashApiKey(apiKey),
    prefix: apiKey.slice(0, API_KEY_DISPLAY_LENGTH),
  };
}
