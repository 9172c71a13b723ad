import { describe, expect, it } from 'vitest';
import { metaDelivery, toMetaJson } from '../src/meta-json.js';

describe('toMetaJson', () => {
  it('escapes é as \\u00e9', () => {
    expect(toMetaJson({ text: 'café' })).toBe('{"text":"caf\\u00e9"}');
  });

  it('escapes an emoji as a lowercase surrogate pair', () => {
    expect(toMetaJson('😀')).toBe('"\\ud83d\\ude00"');
  });

  it('escapes / as \\/', () => {
    expect(toMetaJson('https://lookaside.fbsbx.com/x')).toBe(
      '"https:\\/\\/lookaside.fbsbx.com\\/x"',
    );
  });

  it('escapes @ as \\u0040', () => {
    expect(toMetaJson({ text: 'ping @shop' })).toBe('{"text":"ping \\u0040shop"}');
  });

  it('writes pure ASCII', () => {
    const json = toMetaJson({ text: 'Ünïcödé — 日本語 ❤️ 👍🏽', url: 'a/b', at: '@' });

    expect(/^[\x20-\x7e]*$/.test(json)).toBe(true);
  });

  it('round-trips through JSON.parse', () => {
    const value = {
      object: 'instagram',
      entry: [
        { id: '17841400000000001', time: 1735689600000, text: 'café 😀 a/b @x "q" \\ \n\u2028' },
      ],
    };

    expect(JSON.parse(toMetaJson(value))).toEqual(value);
  });

  it('gives the exact bytes of a documented body', () => {
    const value = {
      object: 'instagram',
      entry: [
        {
          id: '17841400000000001',
          time: 1735689600000,
          messaging: [{ message: { text: 'café 😀 a/b @x' } }],
        },
      ],
    };

    expect(toMetaJson(value)).toBe(
      '{"object":"instagram","entry":[{"id":"17841400000000001","time":1735689600000,"messaging":[{"message":{"text":"caf\\u00e9 \\ud83d\\ude00 a\\/b \\u0040x"}}]}]}',
    );
  });

  it('rejects a value JSON cannot represent', () => {
    expect(() => toMetaJson(undefined)).toThrowError(
      expect.objectContaining({ code: 'PAYLOAD_NOT_JSON' }),
    );
  });
});

describe('metaDelivery', () => {
  it('signs the escaped bytes of an object', () => {
    const delivery = metaDelivery(
      {
        object: 'instagram',
        entry: [
          {
            id: '17841400000000001',
            time: 1735689600000,
            messaging: [{ message: { text: 'café 😀 a/b @x' } }],
          },
        ],
      },
      'app-secret-for-tests',
    );

    expect(delivery.body.toString('ascii')).toContain('caf\\u00e9');
    // Computed with `openssl dgst -sha256 -hmac app-secret-for-tests` over the escaped body.
    expect(delivery.headers['x-hub-signature-256']).toBe(
      'sha256=25cd7e943bdbab2c590373fb70aa88247d39d60a4e226d8ba30ca5b8775d6dd6',
    );
    expect(delivery.headers['content-type']).toBe('application/json');
    expect(delivery.headers['x-hub-signature']).toMatch(/^sha1=[0-9a-f]{40}$/);
  });

  it('sends a string body unchanged', () => {
    const delivery = metaDelivery('{"text":"café"}', 'app-secret-for-tests');

    expect(delivery.body.equals(Buffer.from('{"text":"café"}', 'utf8'))).toBe(true);
    expect(delivery.headers['x-hub-signature-256']).toBe(
      'sha256=4e7eadef1981f1c3ee3ce3da59a92effb645517bfeffb9d277e930ba2f89b655',
    );
  });

  it('sends a Buffer body unchanged', () => {
    const body = Buffer.from([0x7b, 0x7d]);

    expect(metaDelivery(body, 'app-secret-for-tests').body).toBe(body);
  });
});
