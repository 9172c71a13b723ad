import { describe, expect, it } from 'vitest';
import { classifyGraphError, type GraphErrorClass } from '../../src/index.js';

// Every code / subcode row of Meta's error table, with the class the sender acts on.
const table: Array<{ code: number; subcode?: number; expected: GraphErrorClass; meaning: string }> =
  [
    { code: 1, expected: 'retryable', meaning: 'unknown transient error' },
    { code: 2, expected: 'retryable', meaning: 'service error' },
    { code: 4, expected: 'throttled', meaning: 'application request limit' },
    { code: 17, expected: 'throttled', meaning: 'user request limit' },
    { code: 32, expected: 'throttled', meaning: 'page request limit' },
    { code: 613, expected: 'throttled', meaning: 'rate limit' },
    { code: 80002, expected: 'throttled', meaning: 'Instagram account call limit' },
    { code: 80006, expected: 'throttled', meaning: 'messaging request limit' },
    { code: 10, expected: 'permission', meaning: 'permission missing' },
    { code: 200, expected: 'permission', meaning: 'permissions error' },
    { code: 230, expected: 'permission', meaning: 'permission in the 200-299 range' },
    { code: 299, expected: 'permission', meaning: 'last permission code' },
    {
      code: 10,
      subcode: 2018278,
      expected: 'window_closed',
      meaning: 'outside the 24-hour window',
    },
    {
      code: 10,
      subcode: 2534022,
      expected: 'window_closed',
      meaning: 'outside the allowed window',
    },
    { code: 190, expected: 'auth', meaning: 'invalid token' },
    { code: 190, subcode: 458, expected: 'auth', meaning: 'app not installed' },
    { code: 190, subcode: 459, expected: 'auth', meaning: 'user checkpointed' },
    { code: 190, subcode: 460, expected: 'auth', meaning: 'password changed' },
    { code: 190, subcode: 463, expected: 'auth', meaning: 'token expired' },
    { code: 190, subcode: 464, expected: 'auth', meaning: 'unconfirmed user' },
    { code: 190, subcode: 467, expected: 'auth', meaning: 'invalid access token' },
    { code: 190, subcode: 492, expected: 'auth', meaning: 'invalid session' },
    { code: 100, subcode: 2018001, expected: 'recipient_permanent', meaning: 'no matching user' },
    { code: 100, subcode: 2534014, expected: 'recipient_permanent', meaning: 'user not found' },
    { code: 551, expected: 'recipient_permanent', meaning: 'person unavailable' },
    { code: 551, subcode: 1545041, expected: 'recipient_permanent', meaning: 'person unavailable' },
    { code: 368, expected: 'blocked', meaning: 'blocked for policy' },
    { code: 10, subcode: 1893063, expected: 'blocked', meaning: 'account restricted' },
    { code: 100, subcode: 2534029, expected: 'blocked', meaning: 'account unusable for messaging' },
    { code: 100, subcode: 2534013, expected: 'blocked', meaning: 'page not linked' },
    { code: 200, subcode: 2534041, expected: 'blocked', meaning: 'DM access off' },
  ];

describe('classifyGraphError', () => {
  for (const row of table) {
    const name = row.subcode === undefined ? `${row.code}` : `${row.code}/${row.subcode}`;
    it(`classifies ${name} (${row.meaning}) as ${row.expected}`, () => {
      expect(classifyGraphError({ code: row.code, subcode: row.subcode, httpStatus: 400 })).toBe(
        row.expected,
      );
    });
  }

  it('decides on the code, not on the HTTP status', () => {
    expect(classifyGraphError({ code: 190, httpStatus: 500 })).toBe('auth');
    expect(classifyGraphError({ code: 2, httpStatus: 400 })).toBe('retryable');
    expect(classifyGraphError({ code: 613, httpStatus: 200 })).toBe('throttled');
  });

  it('treats HTTP 5xx without a Graph code as retryable', () => {
    expect(classifyGraphError({ httpStatus: 502 })).toBe('retryable');
    expect(classifyGraphError({ httpStatus: 503 })).toBe('retryable');
  });

  it('treats other statuses without a code as unknown', () => {
    expect(classifyGraphError({ httpStatus: 404 })).toBe('unknown');
    expect(classifyGraphError({})).toBe('unknown');
  });

  it('uses is_transient only for codes outside the table', () => {
    expect(classifyGraphError({ code: 100, isTransient: true })).toBe('retryable');
    expect(classifyGraphError({ code: 100, isTransient: false })).toBe('unknown');
    expect(classifyGraphError({ code: 190, isTransient: true })).toBe('auth');
  });

  it('leaves other subcodes of code 100 unknown', () => {
    expect(classifyGraphError({ code: 100 })).toBe('unknown');
    expect(classifyGraphError({ code: 100, subcode: 33 })).toBe('unknown');
  });

  it('keeps a missing permission when code 10 has another subcode', () => {
    expect(classifyGraphError({ code: 10, subcode: 2018065 })).toBe('permission');
  });
});
