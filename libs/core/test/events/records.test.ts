import {
  buildDlqRecord,
  buildUnroutedRecord,
  dlqRecordSchema,
  unroutedRecordSchema,
} from '@ig-router/core';
import { describe, expect, it } from 'vitest';
import {
  ACCOUNT_A,
  entry,
  envelope,
  expectEnvelope,
  SOURCE,
  split,
  textMessage,
} from './fixtures.js';

describe('buildUnroutedRecord', () => {
  it('carries the entry, its id and its position', () => {
    const [splitEntry] = expectEnvelope(
      split(envelope([entry(ACCOUNT_A, { messaging: [textMessage('m1', 'hi')] })])),
    );
    if (!splitEntry) throw new Error('expected one entry');

    const record = buildUnroutedRecord(splitEntry, 'unknown_account', SOURCE);

    expect(record).toEqual({
      schema: 'ig.unrouted.v1',
      reason: 'unknown_account',
      entry_id: ACCOUNT_A,
      entry: splitEntry.raw,
      source: { topic: 'ig.raw', partition: 3, offset: '42', entry_index: 0 },
      received_at: '2024-05-01T12:00:05.000Z',
    });
    expect(unroutedRecordSchema.parse(record)).toEqual(record);
  });

  it('keeps entry_id null for an entry without a usable id', () => {
    const [splitEntry] = expectEnvelope(split(envelope([{ messaging: [] }])));
    if (!splitEntry) throw new Error('expected one entry');

    const record = buildUnroutedRecord(splitEntry, 'missing_account_id', SOURCE);

    expect(record.entry_id).toBeNull();
    expect(unroutedRecordSchema.parse(record).reason).toBe('missing_account_id');
  });

  it('rejects an unknown reason', () => {
    const result = unroutedRecordSchema.safeParse({
      schema: 'ig.unrouted.v1',
      reason: 'bored',
      entry_id: null,
      entry: {},
      source: { topic: 'ig.raw', partition: 0, offset: '1', entry_index: 0 },
      received_at: '2024-05-01T12:00:05.000Z',
    });
    expect(result.success).toBe(false);
  });
});

describe('buildDlqRecord', () => {
  it('stores the exact body as base64 with the failure', () => {
    const body = Buffer.from([0x7b, 0xc3, 0x28, 0x7d]);
    const failure = { reason: 'invalid_json', error: 'body is not valid UTF-8' };

    const record = buildDlqRecord(body, failure, SOURCE);

    expect(record).toEqual({
      schema: 'ig.dlq.v1',
      reason: 'invalid_json',
      error: 'body is not valid UTF-8',
      raw_base64: 'e8MofQ==',
      source: { topic: 'ig.raw', partition: 3, offset: '42' },
      received_at: '2024-05-01T12:00:05.000Z',
    });
    expect(Buffer.from(record.raw_base64 ?? '', 'base64').equals(body)).toBe(true);
    expect(dlqRecordSchema.parse(record)).toEqual(record);
  });

  it('encodes only the bytes of a view into a larger buffer', () => {
    const backing = Buffer.from('xx{}yy');
    const record = buildDlqRecord(
      backing.subarray(2, 4),
      { reason: 'not_meta_envelope', error: 'e' },
      SOURCE,
    );
    expect(Buffer.from(record.raw_base64 ?? '', 'base64').toString()).toBe('{}');
  });
});
