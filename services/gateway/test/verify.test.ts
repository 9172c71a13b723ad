import { describe, expect, it } from 'vitest';
import { checkSignature, SignatureError, verifyTokenMatches } from '../src/index.js';
import { signature1, signature256 } from './helpers.js';

const secret = 'unit-test-app-secret';
const body = Buffer.from(
  '{"object":"instagram","entry":[{"id":"1","text":"caf\\u00e9 \\ud83d\\ude00"}]}',
  'ascii',
);

function codeOf(run: () => void): string | undefined {
  try {
    run();
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(SignatureError);
    return (err as SignatureError).code;
  }
}

describe('checkSignature', () => {
  it('accepts the HMAC-SHA256 of the exact bytes', () => {
    expect(codeOf(() => checkSignature(body, signature256(body, secret), secret))).toBeUndefined();
  });

  it('accepts upper-case hex digits', () => {
    const upper = `sha256=${signature256(body, secret).slice(7).toUpperCase()}`;
    expect(codeOf(() => checkSignature(body, upper, secret))).toBeUndefined();
  });

  it('rejects every single changed body byte', () => {
    const signature = signature256(body, secret);
    for (let i = 0; i < body.length; i++) {
      const changed = Buffer.from(body);
      changed[i] = (changed[i] as number) ^ 0x01;
      expect(codeOf(() => checkSignature(changed, signature, secret))).toBe('SIGNATURE_MISMATCH');
    }
  });

  it('rejects a re-serialized body', () => {
    const reserialized = Buffer.from(JSON.stringify(JSON.parse(body.toString('utf8'))), 'utf8');
    expect(reserialized.equals(body)).toBe(false);
    expect(codeOf(() => checkSignature(reserialized, signature256(body, secret), secret))).toBe(
      'SIGNATURE_MISMATCH',
    );
  });

  it('names missing, sha1-only and malformed headers', () => {
    expect(codeOf(() => checkSignature(body, undefined, secret))).toBe('SIGNATURE_MISSING');
    expect(codeOf(() => checkSignature(body, '', secret))).toBe('SIGNATURE_MISSING');
    expect(codeOf(() => checkSignature(body, undefined, secret, true))).toBe('SIGNATURE_MISSING');

    const good = signature256(body, secret);
    const malformed = [
      signature1(body, secret),
      good.slice(7),
      `SHA256=${good.slice(7)}`,
      `${good} `,
      `${good}00`,
      good.slice(0, -1),
      `${good.slice(0, -1)}g`,
      `sha256=${'zz'.repeat(32)}`,
    ];
    for (const header of malformed) {
      expect(
        codeOf(() => checkSignature(body, header, secret)),
        header,
      ).toBe('SIGNATURE_MALFORMED');
    }
    expect(codeOf(() => checkSignature(body, [good, good], secret))).toBe('SIGNATURE_MALFORMED');
  });
});

describe('verifyTokenMatches', () => {
  it('matches only the exact token', () => {
    expect(verifyTokenMatches('token-1', 'token-1')).toBe(true);
    expect(verifyTokenMatches('token-2', 'token-1')).toBe(false);
    expect(verifyTokenMatches('token-1 ', 'token-1')).toBe(false);
    expect(verifyTokenMatches('', 'token-1')).toBe(false);
    expect(verifyTokenMatches(undefined, 'token-1')).toBe(false);
    expect(verifyTokenMatches(['token-1'], 'token-1')).toBe(false);
  });
});
