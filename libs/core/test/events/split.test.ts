import { igEventV1Schema, routeEvent, splitDelivery } from '@ig-router/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ACCOUNT,
  ACCOUNT_A,
  ACCOUNT_B,
  allEvents,
  bodyOf,
  entry,
  envelope,
  expectEnvelope,
  messagingItem,
  routeAndValidate,
  SOURCE,
  split,
  splitOne,
  TIME_MS,
  TIME_S,
  textMessage,
  USER_1,
  USER_2,
} from './fixtures.js';

describe('splitDelivery envelope', () => {
  it('splits two accounts with two messaging items each into four events', () => {
    const body = envelope([
      entry(ACCOUNT_A, { messaging: [textMessage('m_a1', 'a1'), textMessage('m_a2', 'a2')] }),
      entry(ACCOUNT_B, {
        messaging: [
          messagingItem(
            { message: { mid: 'm_b1', text: 'b1' } },
            { sender: USER_2, recipient: ACCOUNT_B },
          ),
          messagingItem(
            { message: { mid: 'm_b2', text: 'b2' } },
            { sender: USER_2, recipient: ACCOUNT_B },
          ),
        ],
      }),
    ]);

    const result = split(body);

    expect(result).toMatchObject({ kind: 'envelope', object: 'instagram', platform: 'instagram' });
    const entries = expectEnvelope(result);
    expect(entries.map((splitEntry) => splitEntry.entryId)).toEqual([ACCOUNT_A, ACCOUNT_B]);

    const events = allEvents(result);
    expect(
      events.map((event) => [event.ig_business_id, (event.payload as { mid: string }).mid]),
    ).toEqual([
      [ACCOUNT_A, 'm_a1'],
      [ACCOUNT_A, 'm_a2'],
      [ACCOUNT_B, 'm_b1'],
      [ACCOUNT_B, 'm_b2'],
    ]);
    expect(events.map((event) => [event.source.entry_index, event.source.item_index])).toEqual([
      [0, 0],
      [0, 1],
      [1, 0],
      [1, 1],
    ]);
    for (const event of events) {
      expect(event.source).toMatchObject({
        topic: 'ig.raw',
        partition: 3,
        offset: '42',
        field: 'messaging',
      });
      expect(event.received_at).toBe('2024-05-01T12:00:05.000Z');
      routeAndValidate(event);
    }
  });

  it('keeps items of messaging, changes and standby in that order', () => {
    const body = envelope([
      entry(ACCOUNT_A, {
        standby: [messagingItem({ read: { mid: 'm1' } })],
        changes: [{ field: 'mentions', value: { media_id: '1790' } }],
        messaging: [textMessage('m2', 'hi')],
      }),
    ]);

    const events = allEvents(split(body));

    expect(events.map((event) => [event.type, event.source.field])).toEqual([
      ['message.received', 'messaging'],
      ['mention', 'changes'],
      ['standby', 'standby'],
    ]);
  });

  it('returns an empty entry list for an empty entry array', () => {
    expect(split({ object: 'instagram', entry: [] })).toEqual({
      kind: 'envelope',
      object: 'instagram',
      platform: 'instagram',
      entries: [],
    });
  });

  it.each([
    ['page', 'messenger'],
    ['instagram', 'instagram'],
    ['user', 'instagram'],
  ])('maps object %s to platform %s', (object, platform) => {
    const result = split(
      envelope([entry(ACCOUNT_A, { messaging: [textMessage('m1', 'hi')] })], object),
    );

    expect(result).toMatchObject({ kind: 'envelope', object, platform });
    const [event] = allEvents(result);
    expect(event?.platform).toBe(platform);
  });

  it('keeps an envelope without an object string', () => {
    const result = split({ entry: [entry(ACCOUNT_A, { messaging: [textMessage('m1', 'hi')] })] });
    expect(result).toMatchObject({ kind: 'envelope', object: '', platform: 'instagram' });
  });

  it('keeps a 17-digit id sent as a JSON number exactly', () => {
    const text =
      '{"object":"instagram","entry":[{"id":17841400000000003,"time":1714564800,"messaging":[' +
      '{"sender":{"id":6789012345678903},"recipient":{"id":17841400000000003},' +
      '"timestamp":1714564800000,"message":{"mid":"m1","text":"hi"}}]}]}';

    const result = splitDelivery(Buffer.from(text), SOURCE);

    const [splitEntry] = expectEnvelope(result);
    expect(splitEntry?.entryId).toBe('17841400000000003');
    const event = splitEntry?.events[0];
    expect(event?.ig_business_id).toBe('17841400000000003');
    expect(event?.sender_id).toBe('6789012345678903');
    expect(event?.recipient_id).toBe('17841400000000003');
    expect(event?.raw).toMatchObject({ sender: { id: '6789012345678903' } });
  });

  it('accepts a short entry id sent as a number', () => {
    const [splitEntry] = expectEnvelope(split(envelope([entry(1234, { messaging: [] })])));
    expect(splitEntry?.entryId).toBe('1234');
  });

  it.each([
    ['missing', undefined],
    ['null', null],
    ['an object', { id: '1' }],
    ['a non-digit string', 'acct-1'],
    ['an empty string', ''],
    ['a negative number', -5],
    ['a fraction', 1.5],
  ])('gives entryId null and no events when entry.id is %s', (_name, id) => {
    const raw = { ...entry(id, { messaging: [textMessage('m1', 'hi')] }) };
    if (id === undefined) delete raw.id;

    const [splitEntry] = expectEnvelope(split(envelope([raw])));

    expect(splitEntry?.entryId).toBeNull();
    expect(splitEntry?.events).toEqual([]);
    expect(splitEntry?.raw).toEqual(JSON.parse(JSON.stringify(raw)));
  });

  it.each([
    ['null', null],
    ['a number', 7],
    ['a string', 'entry'],
    ['an array', [1]],
  ])('keeps an entry that is %s as raw with entryId null', (_name, raw) => {
    const entries = expectEnvelope(
      split(envelope([raw, entry(ACCOUNT_A, { messaging: [textMessage('m1', 'hi')] })])),
    );

    expect(entries[0]).toEqual({ entryIndex: 0, entryId: null, raw, events: [] });
    expect(entries[1]?.events).toHaveLength(1);
  });
});

describe('splitDelivery invalid bodies', () => {
  it.each([
    ['empty body', ''],
    ['truncated JSON', '{"object":"instagram","entry":['],
    ['plain text', 'hello'],
    ['form encoded', 'object=instagram&entry=1'],
  ])('returns invalid_json for %s', (_name, text) => {
    const result = splitDelivery(Buffer.from(text), SOURCE);

    expect(result.kind).toBe('invalid');
    if (result.kind === 'invalid') {
      expect(result.reason).toBe('invalid_json');
      expect(result.error).toMatch(/^invalid JSON: /);
    }
  });

  it('returns invalid_json for invalid UTF-8', () => {
    const body = Buffer.concat([
      Buffer.from('{"object":"instagram","entry":[],"x":"'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"}'),
    ]);

    expect(splitDelivery(body, SOURCE)).toEqual({
      kind: 'invalid',
      reason: 'invalid_json',
      error: 'body is not valid UTF-8',
    });
  });

  it('returns invalid_json with nesting too deep for a body nested 100,000 levels', () => {
    const depth = 100_000;
    const text = `{"object":"instagram","entry":${'['.repeat(depth)}${']'.repeat(depth)}}`;

    const result = splitDelivery(Buffer.from(text), SOURCE);

    expect(result.kind).toBe('invalid');
    if (result.kind === 'invalid') {
      expect(result.reason).toBe('invalid_json');
      expect(result.error).toContain('nesting too deep');
    }
  });

  it('splits an item nested close to the depth limit into a serializable event', () => {
    const deepValue = JSON.parse('['.repeat(990) + ']'.repeat(990));
    const item = messagingItem({ message: { mid: 'm_deep', text: 'x', extra: deepValue } });

    const event = splitOne(item);

    expect(event.type).toBe('message.received');
    expect(() => JSON.stringify(routeEvent(event, ACCOUNT))).not.toThrow();
  });

  it.each([
    ['an array', [], 'expected a JSON object with an "entry" array, got an array'],
    ['null', null, 'expected a JSON object with an "entry" array, got null'],
    ['a number', 5, 'expected a JSON object with an "entry" array, got a number'],
    ['a string', 'x', 'expected a JSON object with an "entry" array, got a string'],
    [
      'an object without entry',
      { object: 'instagram' },
      'expected a JSON object with an "entry" array; "entry" is missing',
    ],
    [
      'entry as an object',
      { object: 'instagram', entry: {} },
      'expected a JSON object with an "entry" array; "entry" is not an array',
    ],
    [
      'entry as null',
      { object: 'instagram', entry: null },
      'expected a JSON object with an "entry" array; "entry" is not an array',
    ],
  ])('returns not_meta_envelope for %s', (_name, value, error) => {
    expect(split(value)).toEqual({ kind: 'invalid', reason: 'not_meta_envelope', error });
  });

  it('never throws for arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const result = splitDelivery(Buffer.from(bytes), SOURCE);
        expect(['invalid', 'envelope']).toContain(result.kind);
      }),
      { numRuns: 500 },
    );
  });

  it('never throws and keeps every item for arbitrary JSON in entries', () => {
    const anyJson = fc.jsonValue({ maxDepth: 4 });
    const anyEntry = fc.record(
      {
        id: fc.oneof(fc.constant(ACCOUNT_A), anyJson),
        time: anyJson,
        messaging: fc.oneof(fc.array(anyJson, { maxLength: 4 }), anyJson),
        changes: fc.oneof(fc.array(anyJson, { maxLength: 4 }), anyJson),
        standby: fc.oneof(fc.array(anyJson, { maxLength: 4 }), anyJson),
      },
      { requiredKeys: ['id'] },
    );

    fc.assert(
      fc.property(fc.array(anyEntry, { maxLength: 4 }), (entries) => {
        const result = splitDelivery(bodyOf({ object: 'instagram', entry: entries }), SOURCE);

        for (const splitEntry of expectEnvelope(result)) {
          if (splitEntry.entryId === null) continue;
          let expectedEvents = 0;
          for (const field of ['messaging', 'changes', 'standby'] as const) {
            const items = (splitEntry.raw as Record<string, unknown>)[field];
            if (Array.isArray(items)) expectedEvents += items.length;
            else if (items !== undefined && items !== null) expectedEvents += 1;
          }
          expect(splitEntry.events).toHaveLength(expectedEvents);
          for (const event of splitEntry.events) {
            expect(igEventV1Schema.safeParse(routeEvent(event, ACCOUNT)).success).toBe(true);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('throws INVALID_RECORD_SOURCE for an invalid receivedAt', () => {
    expect(() =>
      splitDelivery(bodyOf(envelope([])), { ...SOURCE, receivedAt: new Date(Number.NaN) }),
    ).toThrow(expect.objectContaining({ code: 'INVALID_RECORD_SOURCE' }));
  });
});

describe('splitDelivery bad items', () => {
  it('turns null items into unknown events and keeps the other items', () => {
    const body = envelope([
      entry(ACCOUNT_A, {
        messaging: [null, textMessage('m1', 'hi'), null],
        changes: [null],
        standby: [null],
      }),
    ]);

    const events = allEvents(split(body));

    expect(events.map((event) => event.type)).toEqual([
      'unknown',
      'message.received',
      'unknown',
      'unknown',
      'standby',
    ]);
    expect(events[0]?.payload).toEqual({
      reason: 'invalid_item',
      error: 'item: expected an object, got null',
    });
    expect(events[0]?.raw).toBeNull();
    expect(events[4]?.payload).toEqual({
      inner_type: 'unknown',
      inner_payload: { reason: 'invalid_item', error: 'item: expected an object, got null' },
    });
    for (const event of events) routeAndValidate(event);
  });

  it('turns a messaging member that is not an array into one unknown event', () => {
    const messaging = { sender: { id: USER_1 }, message: { mid: 'm1' } };
    const events = allEvents(split(envelope([entry(ACCOUNT_A, { messaging })])));

    expect(events).toHaveLength(1);
    expect(events[0]?.type).toBe('unknown');
    expect(events[0]?.payload).toEqual({
      reason: 'invalid_item',
      error: 'entry.messaging: expected an array, got an object',
    });
    expect(events[0]?.raw).toEqual(messaging);
    expect(events[0]?.source).toMatchObject({ field: 'messaging', item_index: 0 });
  });

  const message = { mid: 'm1', text: 'hi' };
  const wrongTypes: Array<[string, unknown, string]> = [
    ['item as a string', 'message', 'item: expected an object, got a string'],
    ['item as an array', [1], 'item: expected an object, got an array'],
    ['sender as a number', { ...messagingItem({ message }), sender: 5 }, 'sender'],
    ['sender.id as an object', { ...messagingItem({ message }), sender: { id: {} } }, 'sender.id'],
    [
      'sender.id as a fraction',
      { ...messagingItem({ message }), sender: { id: 1.5 } },
      'sender.id',
    ],
    [
      'sender missing',
      { recipient: { id: ACCOUNT_A }, timestamp: TIME_MS, message },
      'sender: missing',
    ],
    ['recipient missing', { sender: { id: USER_1 }, timestamp: TIME_MS, message }, 'recipient'],
    ['timestamp as text', { ...messagingItem({ message }), timestamp: 'yesterday' }, 'timestamp'],
    ['timestamp negative', { ...messagingItem({ message }), timestamp: -1 }, 'timestamp'],
    [
      'timestamp past year 9999',
      { ...messagingItem({ message }), timestamp: 999_999_999_999_999 },
      'timestamp',
    ],
    ['timestamp null', { ...messagingItem({ message }), timestamp: null }, 'timestamp'],
    ['message as a string', messagingItem({ message: 'hi' }), 'message'],
    ['message as null', messagingItem({ message: null }), 'message'],
    ['message.mid missing', messagingItem({ message: { text: 'hi' } }), 'message.mid'],
    ['message.mid as a number', messagingItem({ message: { mid: 5, text: 'hi' } }), 'message.mid'],
    [
      'message.text as a number',
      messagingItem({ message: { mid: 'm1', text: 5 } }),
      'message.text',
    ],
    [
      'attachments as an object',
      messagingItem({ message: { mid: 'm1', attachments: {} } }),
      'message.attachments',
    ],
    [
      'attachment type as a number',
      messagingItem({ message: { mid: 'm1', attachments: [{ type: 5 }] } }),
      'message.attachments[0].type',
    ],
    [
      'attachment as null',
      messagingItem({ message: { mid: 'm1', attachments: [null] } }),
      'message.attachments[0]',
    ],
    [
      'is_echo as a string',
      messagingItem({ message: { mid: 'm1', is_echo: 'true' } }),
      'message.is_echo',
    ],
    [
      'reply_to as a string',
      messagingItem({ message: { mid: 'm1', reply_to: 'm0' } }),
      'message.reply_to',
    ],
    [
      'quick_reply.payload as a number',
      messagingItem({ message: { mid: 'm1', quick_reply: { payload: 1 } } }),
      'message.quick_reply.payload',
    ],
    [
      'referral.ref as a number',
      messagingItem({ message: { mid: 'm1', referral: { ref: 1 } } }),
      'message.referral.ref',
    ],
    [
      'reaction.action unknown',
      messagingItem({ reaction: { mid: 'm1', action: 'like' } }),
      'reaction.action',
    ],
    ['reaction.mid missing', messagingItem({ reaction: { action: 'react' } }), 'reaction.mid'],
    ['read.watermark as a string', messagingItem({ read: { watermark: 'x' } }), 'read.watermark'],
    ['read as a number', messagingItem({ read: 1 }), 'read'],
    ['postback.title as a number', messagingItem({ postback: { title: 5 } }), 'postback.title'],
    [
      'message_edit.num_edit negative',
      messagingItem({ message_edit: { mid: 'm1', num_edit: -1 } }),
      'message_edit.num_edit',
    ],
    ['referral as a string', messagingItem({ referral: 'ad' }), 'referral'],
    ['optin.ref as a number', { recipient: { id: ACCOUNT_A }, optin: { ref: 1 } }, 'optin.ref'],
    [
      'pass_thread_control app id as an object',
      messagingItem({ pass_thread_control: { new_owner_app_id: {} } }),
      'pass_thread_control.new_owner_app_id',
    ],
  ];

  it.each(wrongTypes)('turns a messaging item with %s into unknown', (_name, item, errorPath) => {
    const event = splitOne(item);

    expect(event.type).toBe('unknown');
    expect(event.payload).toMatchObject({ reason: 'invalid_item' });
    expect((event.payload as { error: string }).error).toContain(errorPath);
    expect(event.raw).toEqual(item);
    routeAndValidate(event);
  });

  it('keeps sender and recipient on an invalid messaging item when they are readable', () => {
    const event = splitOne(messagingItem({ message: { text: 'no mid' } }));

    expect(event.type).toBe('unknown');
    expect(event.sender_id).toBe(USER_1);
    expect(event.recipient_id).toBe(ACCOUNT_A);
    expect(event.occurred_at).toBe('2024-05-01T12:00:00.000Z');
  });

  const comment = { id: '1790', text: 'nice', from: { id: '55' } };
  const wrongChanges: Array<[string, unknown, string]> = [
    ['change as a number', 5, 'item: expected an object, got a number'],
    ['field missing', { value: comment }, 'field'],
    ['field as a number', { field: 5, value: comment }, 'field'],
    ['comment value as null', { field: 'comments', value: null }, 'value'],
    [
      'comment text missing',
      { field: 'comments', value: { id: '1', from: { id: '2' } } },
      'value.text',
    ],
    [
      'comment from.id missing',
      { field: 'comments', value: { id: '1', text: 'x', from: {} } },
      'value.from.id',
    ],
    [
      'comment media as a string',
      { field: 'comments', value: { ...comment, media: 'x' } },
      'value.media',
    ],
    [
      'live comment id as a boolean',
      { field: 'live_comments', value: { ...comment, id: true } },
      'value.id',
    ],
    [
      'mention media_id missing',
      { field: 'mentions', value: { comment_id: '1' } },
      'value.media_id',
    ],
    [
      'story insights reach as a string',
      { field: 'story_insights', value: { media_id: '1', reach: 'x' } },
      'value.reach',
    ],
    [
      'change timestamp as text',
      { field: 'comments', value: { ...comment, timestamp: 'now' } },
      'value.timestamp',
    ],
  ];

  it.each(wrongChanges)('turns a change with %s into unknown', (_name, item, errorPath) => {
    const event = splitOne(item, 'changes');

    expect(event.type).toBe('unknown');
    expect(event.payload).toMatchObject({ reason: 'invalid_item' });
    expect((event.payload as { error: string }).error).toContain(errorPath);
    routeAndValidate(event);
  });

  it('ignores an unusable entry.time and falls back to receivedAt', () => {
    const item = { recipient: { id: ACCOUNT_A }, optin: { ref: 'x' } };
    const events = allEvents(split(envelope([{ id: ACCOUNT_A, time: 'soon', messaging: [item] }])));

    expect(events[0]?.type).toBe('optin');
    expect(events[0]?.occurred_at).toBe('2024-05-01T12:00:05.000Z');
  });
});

describe('splitDelivery occurred_at', () => {
  const mentionChange = { field: 'mentions', value: { media_id: '1790' } };

  it.each([
    [
      'item timestamp in milliseconds',
      { timestamp: TIME_MS + 250 },
      {},
      '2024-05-01T12:00:00.250Z',
    ],
    ['item timestamp in seconds', { timestamp: TIME_S }, {}, '2024-05-01T12:00:00.000Z'],
    [
      'item timestamp as a digit string',
      { timestamp: String(TIME_MS) },
      {},
      '2024-05-01T12:00:00.000Z',
    ],
    ['entry.time in seconds', {}, { time: TIME_S + 1 }, '2024-05-01T12:00:01.000Z'],
    ['entry.time in milliseconds', {}, { time: TIME_MS + 1000 }, '2024-05-01T12:00:01.000Z'],
    ['receivedAt', {}, { time: undefined }, '2024-05-01T12:00:05.000Z'],
  ])('comes from %s', (_name, itemTime, entryTime, expected) => {
    const item: Record<string, unknown> = {
      recipient: { id: ACCOUNT_A },
      optin: { ref: 'x' },
      ...itemTime,
    };
    const rawEntry: Record<string, unknown> = { id: ACCOUNT_A, messaging: [item], ...entryTime };

    const [event] = allEvents(split(envelope([rawEntry])));

    expect(event?.occurred_at).toBe(expected);
    expect(event?.received_at).toBe('2024-05-01T12:00:05.000Z');
  });

  it('is the same for a timestamp in seconds and in milliseconds', () => {
    const inSeconds = splitOne(messagingItem({ read: { mid: 'm1' } }, { timestamp: TIME_S }));
    const inMilliseconds = splitOne(messagingItem({ read: { mid: 'm1' } }, { timestamp: TIME_MS }));

    expect(inSeconds.occurred_at).toBe(inMilliseconds.occurred_at);
    expect(inSeconds.occurred_at).toBe('2024-05-01T12:00:00.000Z');
  });

  it('uses entry.time for changes without a time of their own', () => {
    const [event] = allEvents(
      split(envelope([{ id: ACCOUNT_A, time: TIME_MS, changes: [mentionChange] }])),
    );
    expect(event?.occurred_at).toBe('2024-05-01T12:00:00.000Z');
  });
});

describe('splitDelivery event_id', () => {
  const body = envelope([
    entry(ACCOUNT_A, {
      messaging: [
        textMessage('m1', 'hi'),
        messagingItem({ reaction: { mid: 'm1', action: 'react', reaction: 'love' } }),
        messagingItem({ reaction: { mid: 'm1', action: 'unreact' } }),
        messagingItem({ read: { mid: 'm1' } }),
        messagingItem({ referral: { ref: 'a', source: 'SHORTLINK' } }),
        null,
      ],
      changes: [{ field: 'comments', value: { id: '1790', text: 'x', from: { id: '55' } } }],
      standby: [textMessage('m1', 'hi')],
    }),
  ]);

  function eventIds(value: unknown, source = SOURCE): string[] {
    return allEvents(split(value, source)).map((event) => event.event_id);
  }

  it('is a UUID version 5', () => {
    for (const id of eventIds(body)) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
  });

  it('is the same when the body is split twice', () => {
    expect(eventIds(body)).toEqual(eventIds(body));
  });

  it('does not depend on offset, partition, topic or receivedAt', () => {
    const replaySource = {
      topic: 'staging.ig.raw',
      partition: 0,
      offset: '987654',
      receivedAt: new Date('2025-01-01T00:00:00Z'),
    };
    expect(eventIds(body, replaySource)).toEqual(eventIds(body));
  });

  it('does not depend on the item position or the key order', () => {
    const reordered = envelope([
      { id: ACCOUNT_B, messaging: [] },
      entry(ACCOUNT_A, {
        messaging: [
          {
            referral: { source: 'SHORTLINK', ref: 'a' },
            timestamp: TIME_MS,
            recipient: { id: ACCOUNT_A },
            sender: { id: USER_1 },
          },
        ],
      }),
    ]);
    const [original] = eventIds(
      envelope([
        entry(ACCOUNT_A, {
          messaging: [messagingItem({ referral: { ref: 'a', source: 'SHORTLINK' } })],
        }),
      ]),
    );
    expect(eventIds(reordered)).toEqual([original]);
  });

  it('differs between distinct events, including on the same mid', () => {
    const ids = eventIds(body);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('differs between accounts for the same item', () => {
    const item = textMessage('m1', 'hi');
    const [idA] = eventIds(envelope([entry(ACCOUNT_A, { messaging: [item] })]));
    const [idB] = eventIds(envelope([entry(ACCOUNT_B, { messaging: [item] })]));
    expect(idA).not.toBe(idB);
  });

  it('is the same for a 17-digit id sent as a number or as a string', () => {
    const asNumber =
      '{"object":"instagram","entry":[{"id":"17841400000000001","messaging":[{"sender":{"id":6789012345678903},' +
      '"recipient":{"id":17841400000000001},"timestamp":1714564800000,"referral":{"ref":"a"}}]}]}';
    const asString = asNumber
      .replace('6789012345678903', '"6789012345678903"')
      .replace(':17841400000000001}', ':"17841400000000001"}');

    const [fromNumber] = allEvents(splitDelivery(Buffer.from(asNumber), SOURCE));
    const [fromString] = allEvents(splitDelivery(Buffer.from(asString), SOURCE));

    expect(fromNumber?.type).toBe('referral');
    expect(fromNumber?.event_id).toBe(fromString?.event_id);
  });
});

describe('routeEvent', () => {
  it('adds the account fields in schema order', () => {
    const event = splitOne(textMessage('m1', 'hi'));

    const routed = routeEvent(event, { client_id: 'client-9', account_name: 'shop_nine' });

    expect(Object.keys(routed)).toEqual([
      'schema',
      'event_id',
      'type',
      'platform',
      'ig_business_id',
      'client_id',
      'account_name',
      'sender_id',
      'recipient_id',
      'occurred_at',
      'received_at',
      'payload',
      'raw',
      'source',
    ]);
    expect(routed.client_id).toBe('client-9');
    expect(routed.account_name).toBe('shop_nine');
    expect(igEventV1Schema.parse(routed)).toEqual(routed);
  });
});
