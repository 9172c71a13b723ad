import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { GatewayErrorCodes, SignatureError } from './errors.js';

const SIGNATURE_PREFIX = 'sha256=';
const SHA256_HEX_LENGTH = 64;

function isHex(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const digit = c >= 48 && c <= 57;
    const lower = c >= 97 && c <= 102;
    const upper = c >= 65 && c <= 70;
    if (!digit && !lower && !upper) return false;
  }
  return true;
}

/**
 * Checks `X-Hub-Signature-256` against the HMAC-SHA256 of the exact body bytes, keyed with the
 * app secret, and throws a SignatureError unless they match. The comparison runs in constant
 * time. The legacy SHA-1 `X-Hub-Signature` header is never accepted in its place, because SHA-1 is
 * the weaker hash and the stored record must carry the SHA-256 signature so it can be re-verified.
 *
 * @param signatureHeader the header value as received; an array means the header was repeated
 * @param legacyHeaderPresent whether `X-Hub-Signature` (SHA-1) arrived, only to name the failure
 */
export function checkSignature(
  body: Buffer,
  signatureHeader: string | string[] | undefined,
  appSecret: string,
  legacyHeaderPresent = false,
): void {
  if (signatureHeader === undefined || signatureHeader === '') {
    throw new SignatureError(
      GatewayErrorCodes.SIGNATURE_MISSING,
      legacyHeaderPresent
        ? 'X-Hub-Signature-256 is missing; the SHA-1 X-Hub-Signature alone is not accepted'
        : 'X-Hub-Signature-256 is missing',
    );
  }
  if (
    typeof signatureHeader !== 'string' ||
    !signatureHeader.startsWith(SIGNATURE_PREFIX) ||
    signatureHeader.length !== SIGNATURE_PREFIX.length + SHA256_HEX_LENGTH ||
    !isHex(signatureHeader.slice(SIGNATURE_PREFIX.length))
  ) {
    throw new SignatureError(
      GatewayErrorCodes.SIGNATURE_MALFORMED,
      'X-Hub-Signature-256 is malformed; expected sha256= followed by 64 hex digits',
    );
  }

  const received = Buffer.from(signatureHeader.slice(SIGNATURE_PREFIX.length), 'hex');
  const expected = createHmac('sha256', appSecret).update(body).digest();
  if (!timingSafeEqual(received, expected)) {
    throw new SignatureError(
      GatewayErrorCodes.SIGNATURE_MISMATCH,
      'X-Hub-Signature-256 does not match the body for this app secret',
    );
  }
}

/**
 * Compares the `hub.verify_token` of a handshake with the configured token in constant time.
 * Both sides are hashed first, so the comparison time does not reveal the token's length either.
 */
export function verifyTokenMatches(received: unknown, expected: string): boolean {
  if (typeof received !== 'string' || received.length === 0) return false;
  const receivedDigest = createHash('sha256').update(received).digest();
  const expectedDigest = createHash('sha256').update(expected).digest();
  return timingSafeEqual(receivedDigest, expectedDigest);
}
