import { canonicalJson, deriveEventId, uuidV5 } from '@ig-router/core';
import { describe, expect, it } from 'vitest';

describe('uuidV5', () => {
  it('matches the RFC 9562 example for the DNS namespace', () => {
    const dnsNamespace = Buffer.from('6ba7b8109dad11d180b400c04fd430c8', 'hex');
    expect(uuidV5('www.example.com', dnsNamespace)).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
  });
});

describe('deriveEventId', () => {
  it('is stable for the same account, type and identity', () => {
    const first = deriveEventId('17841400000000001', 'message.received', ['m1']);
    expect(deriveEventId('17841400000000001', 'message.received', ['m1'])).toBe(first);
    expect(deriveEventId('17841400000000001', 'message.echo', ['m1'])).not.toBe(first);
    expect(deriveEventId('17841400000000002', 'message.received', ['m1'])).not.toBe(first);
  });

  it('does not confuse identity parts that concatenate to the same text', () => {
    expect(deriveEventId('1', 'read', ['ab', 'c'])).not.toBe(
      deriveEventId('1', 'read', ['a', 'bc']),
    );
  });
});

describe('canonicalJson', () => {
  it('sorts object keys at every level', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}',
    );
  });

  it('writes scalars as JSON', () => {
    expect(canonicalJson(null)).toBe('null');
    expect(canonicalJson('a"b')).toBe('"a\\"b"');
    expect(canonicalJson(1.5)).toBe('1.5');
    expect(canonicalJson(true)).toBe('true');
  });
});
