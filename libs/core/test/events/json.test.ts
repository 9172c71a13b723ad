import { DEFAULT_MAX_JSON_DEPTH, JsonParseError, parseJsonLossless } from '@ig-router/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

function parseError(text: string, maxDepth?: number): JsonParseError {
  try {
    parseJsonLossless(text, maxDepth === undefined ? {} : { maxDepth });
  } catch (error) {
    if (error instanceof JsonParseError) return error;
    throw error;
  }
  throw new Error(`expected parseJsonLossless to raise for ${text.slice(0, 40)}`);
}

describe('parseJsonLossless', () => {
  it('keeps a 17-digit id sent as a number exactly', () => {
    const parsed = parseJsonLossless('{"id":17841400000000001,"n":5}');
    expect(parsed).toEqual({ id: '17841400000000001', n: 5 });
    // JSON.parse rounds it to the nearest double, which ends in 000.
    expect(String(JSON.parse('{"id":17841400000000001}').id)).toBe('17841400000000000');
  });

  it.each([
    ['16 digits', '[1234567890123456]', ['1234567890123456']],
    ['15 digits stay numbers', '[123456789012345]', [123456789012345]],
    ['negative', '[-12345678901234567]', ['-12345678901234567']],
    ['top-level literal', ' 98765432109876543 ', '98765432109876543'],
    ['after a comma in an array', '[1, 98765432109876543]', [1, '98765432109876543']],
    ['nested', '{"a":[{"b":98765432109876543}]}', { a: [{ b: '98765432109876543' }] }],
    ['fraction stays a number', '[1234567890123456.5]', [1234567890123456.5]],
    ['exponent stays a number', '[1234567890123456e2]', [1234567890123456e2]],
    [
      'digits inside a string',
      '{"t":"call 12345678901234567 now"}',
      { t: 'call 12345678901234567 now' },
    ],
    [
      'escaped quote before digits',
      '{"t":"a\\" 12345678901234567"}',
      { t: 'a" 12345678901234567' },
    ],
    ['escaped backslash then a number', '["\\\\",12345678901234567]', ['\\', '12345678901234567']],
    ['id as a string stays a string', '{"id":"17841400000000001"}', { id: '17841400000000001' }],
  ])('handles %s', (_name, text, expected) => {
    expect(parseJsonLossless(text)).toEqual(expected);
  });

  it('keeps the last of duplicate keys, as JSON.parse does', () => {
    expect(parseJsonLossless('{"a":1,"a":2}')).toEqual({ a: 2 });
    expect(parseJsonLossless('{"a":12345678901234567,"a":98765432109876543}')).toEqual({
      a: '98765432109876543',
    });
  });

  it.each([
    ['empty text', ''],
    ['truncated object', '{"a":1'],
    ['trailing comma', '[1,]'],
    ['single quotes', "{'a':1}"],
    ['number as key', '{12345678901234567:1}'],
    ['long number after a comma in an object', '{"a":1,12345678901234567:2}'],
    ['leading zero', '[012345678901234567]'],
    ['two top-level values', '1 12345678901234567'],
    ['unterminated string', '["abc'],
    ['NaN', '[NaN]'],
  ])('raises INVALID_JSON for %s', (_name, text) => {
    expect(() => JSON.parse(text)).toThrow(SyntaxError);

    const error = parseError(text);
    expect(error.code).toBe('INVALID_JSON');
    expect(error.message).toMatch(/^invalid JSON: /);
  });

  it('raises JSON_TOO_DEEP for 100,000 levels without overflowing the stack', () => {
    const depth = 100_000;

    const arrays = parseError('['.repeat(depth) + ']'.repeat(depth));
    expect(arrays.code).toBe('JSON_TOO_DEEP');
    expect(arrays.message).toContain('nesting too deep');

    const objects = parseError(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`);
    expect(objects.code).toBe('JSON_TOO_DEEP');
  });

  it('accepts nesting up to the maximum depth', () => {
    const atLimit = '['.repeat(DEFAULT_MAX_JSON_DEPTH) + ']'.repeat(DEFAULT_MAX_JSON_DEPTH);
    expect(() => parseJsonLossless(atLimit)).not.toThrow();
    expect(parseError(`[${atLimit}]`).code).toBe('JSON_TOO_DEEP');
    expect(parseError('[[[1]]]', 2).code).toBe('JSON_TOO_DEEP');
  });

  it('does not count brackets inside strings as nesting', () => {
    const text = JSON.stringify({ t: '['.repeat(5000) });
    expect(parseJsonLossless(text)).toEqual({ t: '['.repeat(5000) });
  });

  it('matches JSON.parse on any JSON without long integers', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        const text = JSON.stringify(value);
        fc.pre(!/\d{16}/.test(text));
        expect(parseJsonLossless(text)).toEqual(JSON.parse(text));
      }),
      { numRuns: 300 },
    );
  });

  it('returns every long integer as its exact digits', () => {
    const longInteger = fc
      .bigInt({ min: 10n ** 15n, max: 10n ** 25n })
      .map((value) => value.toString());
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string(), longInteger), { maxLength: 5 }), (pairs) => {
        const members = pairs.map(([key, digits]) => [JSON.stringify(key), digits]);
        const text = `{${members.map(([key, digits]) => `${key}:${digits}`).join(',')}}`;
        const quoted = `{${members.map(([key, digits]) => `${key}:"${digits}"`).join(',')}}`;
        expect(parseJsonLossless(text)).toEqual(JSON.parse(quoted));
      }),
      { numRuns: 200 },
    );
  });
});
