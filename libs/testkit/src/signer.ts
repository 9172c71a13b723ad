import { createHmac } from 'node:crypto';
import { TestkitError, TestkitErrorCodes } from './errors.js';

/** Headers of a webhook POST as Meta sends them, with lowercase names. */
export interface MetaWebhookHeaders {
  'content-type': 'application/json';
  'x-hub-signature-256': string;
  /** Legacy SHA-1 signature. A receiver must not accept it without the SHA-256 one. */
  'x-hub-signature': string;
}

function hmacHex(algorithm: 'sha256' | 'sha1', body: Buffer | string, appSecret: string): string {
  if (appSecret.length === 0) {
    throw new TestkitError(
      TestkitErrorCodes.APP_SECRET_MISSING,
      'appSecret is empty; pass the App Secret that the gateway under test is configured with',
    );
  }
  // A string body is hashed as its UTF-8 bytes, which are the bytes a client puts on the wire.
  return createHmac(algorithm, appSecret).update(body).digest('hex');
}

/** Returns `sha256=<lowercase hex>`: the HMAC-SHA256 of the exact body bytes, keyed with the App Secret. */
export function signatureFor(body: Buffer | string, appSecret: string): string {
  return `sha256=${hmacHex('sha256', body, appSecret)}`;
}

/** Returns the legacy `sha1=<lowercase hex>` signature that Meta sends in `X-Hub-Signature`. */
export function legacySignatureFor(body: Buffer | string, appSecret: string): string {
  return `sha1=${hmacHex('sha1', body, appSecret)}`;
}

/** Builds the content type and both signature headers for a webhook POST of `body`. */
export function signedHeaders(body: Buffer | string, appSecret: string): MetaWebhookHeaders {
  return {
    'content-type': 'application/json',
    'x-hub-signature-256': signatureFor(body, appSecret),
    'x-hub-signature': legacySignatureFor(body, appSecret),
  };
}
