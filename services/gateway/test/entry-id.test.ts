import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { firstEntryId } from '../src/index.js';

const key = (text: string) => firstEntryId(Buffer.from(text, 'utf8'));

describe('firstEntryId', () => {
  it('returns string ids unchanged', () => {
    expect(key('{"object":"instagram","entry":[{"id":"17841400000000001"},{"id":"2"}]}')).toBe(
      '17841400000000001',
    );
    expect(key('{"entry":[{"id":"caf\\u00e9"}]}')).toBe('café');
  });

  it('keeps the digits of number ids above 2^53', () => {
    expect(key('{"entry":[{"time":1,"id":17841400000000123}]}')).toBe('17841400000000123');
    expect(key('{"entry":[{"id":9007199254740993}]}')).toBe('9007199254740993');
    expect(key('{ "entry" : [ { "id" : 123456789012345678901234567890 } ] }')).toBe(
      '123456789012345678901234567890',
    );
  });

  it('finds the id past nested values and escaped names', () => {
    const body =
      '{"a":{"entry":[{"id":"decoy"}]},"b":["]","}",{"x":"\\"entry\\""}],' +
      '"\\u0065ntry":[{"messaging":[{"id":1}],"i\\u0064":17841400000000456,"z":"}"}]}';
    expect(key(body)).toBe('17841400000000456');
  });

  it('takes the last duplicate member, as JSON.parse does', () => {
    expect(
      key('{"entry":[{"id":1}],"entry":[{"id":17841400000000789,"id":17841400000000790}]}'),
    ).toBe('17841400000000790');
  });

  it('finds the id of a body that starts with a UTF-8 byte order mark', () => {
    const body = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from('{"object":"instagram","entry":[{"id":"17841400000000001"}]}'),
    ]);
    expect(firstEntryId(body)).toBe('17841400000000001');
  });

  it('returns null without a usable id', () => {
    const bodies = [
      'not json',
      '',
      '{"entry":[{"id":"1"}]',
      '[]',
      '{"entry":[]}',
      '{"entry":{"id":"1"}}',
      '{"entry":["1"]}',
      '{"entry":[{"id":""}]}',
      '{"entry":[{"id":null}]}',
      '{"entry":[{"id":true}]}',
      '{"entry":[{"id":-5}]}',
      '{"entry":[{"id":1.5}]}',
      '{"entry":[{"id":1e20}]}',
      '{"entry":[{"other":"1"}]}',
    ];
    for (const body of bodies) expect(key(body), body).toBeNull();
  });

  it('returns the digits of any integer id in any surrounding JSON', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[1-9][0-9]{0,29}$/),
        fc.jsonValue(),
        fc.jsonValue(),
        fc.boolean(),
        (digits, before, after, asString) => {
          const id = asString ? JSON.stringify(digits) : digits;
          const body = `{"x":${JSON.stringify(before)},"entry":[{"y":${JSON.stringify(after)},"id":${id}},{"id":"0"}]}`;
          return key(body) === digits;
        },
      ),
    );
  });
});
