import { TestkitError, TestkitErrorCodes } from './errors.js';
import { type MetaWebhookHeaders, signedHeaders } from './signer.js';

// Every UTF-16 code unit above U+007F, plus `/` and `@`. A character outside the BMP is two code
// units, so it comes out as a surrogate pair such as `\ud83d\ude00`.
const META_ESCAPED_CHARACTERS = /[\u0080-\uffff/@]/g;

function escapeCodeUnit(character: string): string {
  if (character === '/') return '\\/';
  return `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/**
 * Serializes `value` the way Meta writes webhook bodies: compact JSON in pure ASCII, with every
 * non-ASCII character as a lowercase `\uXXXX` escape, `/` as `\/` and `@` as `\u0040`.
 * `JSON.parse` of the result gives back `value`, but its bytes differ from `JSON.stringify`,
 * which is what a signature check over re-serialized JSON gets wrong.
 */
export function toMetaJson(value: unknown): string {
  const json = JSON.stringify(value);
  if (json === undefined) {
    throw new TestkitError(
      TestkitErrorCodes.PAYLOAD_NOT_JSON,
      `toMetaJson cannot serialize a value of type ${typeof value}; pass an object, array or primitive`,
    );
  }
  // These characters can only occur inside JSON strings, so replacing them anywhere is safe.
  return json.replace(META_ESCAPED_CHARACTERS, escapeCodeUnit);
}

/** A webhook POST ready to send: the exact body bytes and Meta's headers for them. */
export interface MetaDelivery {
  body: Buffer;
  headers: MetaWebhookHeaders;
}

/**
 * Builds a signed webhook delivery. A Buffer or string `payload` is sent unchanged (a string as
 * UTF-8), so tests can sign hand-written bytes. Any other value is serialized with `toMetaJson`.
 */
export function metaDelivery(payload: unknown, appSecret: string): MetaDelivery {
  let body: Buffer;
  if (Buffer.isBuffer(payload)) {
    body = payload;
  } else if (typeof payload === 'string') {
    body = Buffer.from(payload, 'utf8');
  } else {
    body = Buffer.from(toMetaJson(payload), 'ascii');
  }

  return { body, headers: signedHeaders(body, appSecret) };
}
