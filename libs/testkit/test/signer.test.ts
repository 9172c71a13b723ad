import { describe, expect, it } from 'vitest';
import { legacySignatureFor, signatureFor, signedHeaders } from '../src/signer.js';

// Expected values were computed with `openssl dgst -sha256 -hmac` and `-sha1 -hmac`, not with
// node:crypto, so the test does not check the code against itself.
describe('signatureFor', () => {
  it('matches the RFC 4231 HMAC-SHA256 test case 2', () => {
    expect(signatureFor('what do ya want for nothing?', 'Jefe')).toBe(
      'sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });

  it('hashes the exact bytes of an escaped body', () => {
    const body =
      '{"object":"instagram","entry":[{"id":"17841400000000001","time":1735689600000,"messaging":[{"message":{"text":"caf\\u00e9 \\ud83d\\ude00 a\\/b \\u0040x"}}]}]}';

    expect(signatureFor(body, 'app-secret-for-tests')).toBe(
      'sha256=25cd7e943bdbab2c590373fb70aa88247d39d60a4e226d8ba30ca5b8775d6dd6',
    );
  });

  it('hashes a string as UTF-8, the same as its Buffer', () => {
    const expected = 'sha256=4e7eadef1981f1c3ee3ce3da59a92effb645517bfeffb9d277e930ba2f89b655';

    expect(signatureFor('{"text":"café"}', 'app-secret-for-tests')).toBe(expected);
    expect(signatureFor(Buffer.from('{"text":"café"}', 'utf8'), 'app-secret-for-tests')).toBe(
      expected,
    );
  });

  it('rejects an empty app secret', () => {
    expect(() => signatureFor('{}', '')).toThrowError(
      expect.objectContaining({ code: 'APP_SECRET_MISSING' }),
    );
  });
});

describe('signedHeaders', () => {
  it('gives the content type and both signatures', () => {
    const headers = signedHeaders('what do ya want for nothing?', 'Jefe');

    expect(headers).toEqual({
      'content-type': 'application/json',
      'x-hub-signature-256':
        'sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
      'x-hub-signature': 'sha1=effcdf6ae5eb2fa2d27416d5f184df9c259a7c79',
    });
  });

  it('uses the RFC 2202 HMAC-SHA1 value for the legacy header', () => {
    expect(legacySignatureFor('what do ya want for nothing?', 'Jefe')).toBe(
      'sha1=effcdf6ae5eb2fa2d27416d5f184df9c259a7c79',
    );
  });
});
