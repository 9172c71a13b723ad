import type { EventType } from '@ig-router/core';
import { describe, expect, it } from 'vitest';
import {
  ACCOUNT_A,
  entry,
  envelope,
  expectEnvelope,
  messagingItem,
  routeAndValidate,
  split,
  splitOne,
  TIME_MS,
  TIME_S,
  USER_1,
} from './fixtures.js';

// One realistic item per event type: the type, sender and recipient, and the payload.

interface TypeCase {
  name: string;
  field: 'messaging' | 'changes' | 'standby';
  item: Record<string, unknown>;
  type: EventType;
  sender_id: string | null;
  recipient_id: string | null;
  payload: unknown;
}

const MID = 'aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAx';

const typeCases: TypeCase[] = [
  {
    name: 'text message',
    field: 'messaging',
    item: messagingItem({ message: { mid: MID, text: 'Do you ship to Lisbon?' } }),
    type: 'message.received',
    sender_id: USER_1,
    recipient_id: ACCOUNT_A,
    payload: { mid: MID, text: 'Do you ship to Lisbon?', attachments: [] },
  },
  {
    name: 'message with attachments, reply, quick reply and referral',
    field: 'messaging',
    item: messagingItem({
      message: {
        mid: MID,
        attachments: [
          { type: 'image', payload: { url: 'https://lookaside.example/image.jpg' } },
          { type: 'story_mention', payload: { url: 'https://lookaside.example/story.mp4' } },
          {
            type: 'ig_reel',
            payload: { url: 'https://lookaside.example/reel', title: 'Reel', reel_video_id: '77' },
          },
        ],
        reply_to: { story: { id: '17900000000000001', url: 'https://lookaside.example/s' } },
        quick_reply: { payload: 'SIZE_M' },
        referral: { ref: 'summer', source: 'ADS', type: 'OPEN_THREAD', ad_id: 23851234567890 },
      },
    }),
    type: 'message.received',
    sender_id: USER_1,
    recipient_id: ACCOUNT_A,
    payload: {
      mid: MID,
      text: null,
      attachments: [
        {
          type: 'image',
          url: 'https://lookaside.example/image.jpg',
          payload: { url: 'https://lookaside.example/image.jpg' },
        },
        {
          type: 'story_mention',
          url: 'https://lookaside.example/story.mp4',
          payload: { url: 'https://lookaside.example/story.mp4' },
        },
        {
          type: 'ig_reel',
          url: 'https://lookaside.example/reel',
          title: 'Reel',
          payload: { url: 'https://lookaside.example/reel', title: 'Reel', reel_video_id: '77' },
        },
      ],
      reply_to: { story: { id: '17900000000000001', url: 'https://lookaside.example/s' } },
      quick_reply_payload: 'SIZE_M',
      referral: { ref: 'summer', source: 'ADS', type: 'OPEN_THREAD', ad_id: '23851234567890' },
    },
  },
  {
    name: 'reply to a message',
    field: 'messaging',
    item: messagingItem({ message: { mid: MID, text: 'yes', reply_to: { mid: 'm_earlier' } } }),
    type: 'message.received',
    sender_id: USER_1,
    recipient_id: ACCOUNT_A,
    payload: { mid: MID, text: 'yes', attachments: [], reply_to: { mid: 'm_earlier' } },
  },
  {
    name: 'echo with sender and recipient swapped',
    field: 'messaging',
    item: messagingItem(
      { message: { mid: MID, text: 'Yes, in 3 days', is_echo: true } },
      { sender: ACCOUNT_A, recipient: USER_1 },
    ),
    type: 'message.echo',
    sender_id: ACCOUNT_A,
    recipient_id: USER_1,
    payload: { mid: MID, text: 'Yes, in 3 days', attachments: [] },
  },
  {
    name: 'deleted message',
    field: 'messaging',
    item: messagingItem({ message: { mid: MID, is_deleted: true } }),
    type: 'message.deleted',
    sender_id: USER_1,
    recipient_id: ACCOUNT_A,
    payload: { mid: MID },
  },
  {
    name: 'unsupported message',
    field: 'messaging',
    item: messagingItem({ message: { mid: MID, is_unsupported: true } }),
    type: 'message.unsupported',
    sender_id: USER_1,
    recipient_id: ACCOUNT_A,
    payload: { mid: MID },
  },
  {
    name: 'edited message',
    field: 'messaging',
    item: messagingItem({ message_edit: { mid: MID, text: 'Do you ship to Porto?', num_edit: 1 } }),
    type: 'message.edited',
    sender_id: USER_1,
    recipient_id: ACCOUNT_A,
    payload: { mid: MID, text: 'Do you ship to Porto?', num_edit: 1 },
  },
  {
    name: 'reaction',
    field: 'messaging',
    item: messagingItem({
      reaction: { mid: MID, action: 'react', reaction: 'love', emoji: '\u2764\ufe0f' },
    }),
    type: 'message.reaction',
    sender_id: USER_1,
    recipient_id: ACCOUNT_A,
    payload: { mid: MID, action: 'react', reaction: 'love', emoji: '\u2764\ufe0f' },
  },
  {
    name: 'unreaction',
    field: 'messaging',
    item: messagingItem({ reaction: { mid: MID, action: 'unreact' } }),
    type: 'message.reaction',
    sender_id: USER_1,
    recipient_id: ACCOUNT_A,
    payload: { mid: MID, action: 'unreact' },
  },
  {
    name: 'read on Instagram',
    field: 'messaging',
    item: messagingItem({ read: { mid: MID } }),
    type: 'message.read',
    sender_id: USER_1,
    recipient_id: ACCOUNT_A,
    payload: { mid: MID },
  },
  {
    name: 'read on Messenger',
    field: 'messaging',
    item: messagingItem({ read: { watermark: TIME_MS } }),
    type: 'message.read',
    sender_id: USER_1,
    recipient_id: ACCOUNT_A,
    payload: { watermark: TIME_MS },
  },
  {
    name: 'postback',
    field: 'messaging',
    item: messagingItem({ postback: { mid: MID, title: 'Track order', payload: 'TRACK_ORDER' } }),
    type: 'postback',
    sender_id: USER_1,
    recipient_id: ACCOUNT_A,
    payload: { mid: MID, title: 'Track order', payload: 'TRACK_ORDER' },
  },
  {
    name: 'referral',
    field: 'messaging',
    item: messagingItem({
      referral: { ref: 'ig_profile', source: 'SHORTLINK', type: 'OPEN_THREAD' },
    }),
    type: 'referral',
    sender_id: USER_1,
    recipient_id: ACCOUNT_A,
    payload: { ref: 'ig_profile', source: 'SHORTLINK', type: 'OPEN_THREAD' },
  },
  {
    name: 'optin without a sender',
    field: 'messaging',
    item: {
      recipient: { id: ACCOUNT_A },
      timestamp: TIME_MS,
      optin: { ref: 'checkout', user_ref: 'user-ref-1' },
    },
    type: 'optin',
    sender_id: null,
    recipient_id: ACCOUNT_A,
    payload: { ref: 'checkout', user_ref: 'user-ref-1' },
  },
  {
    name: 'pass thread control',
    field: 'messaging',
    item: messagingItem({
      pass_thread_control: {
        previous_owner_app_id: '1517776481860111',
        new_owner_app_id: 263902037430900,
        metadata: 'escalated',
      },
    }),
    type: 'handover',
    sender_id: USER_1,
    recipient_id: ACCOUNT_A,
    payload: {
      action: 'pass_thread_control',
      previous_owner_app_id: '1517776481860111',
      new_owner_app_id: '263902037430900',
      metadata: 'escalated',
    },
  },
  {
    name: 'take thread control',
    field: 'messaging',
    item: messagingItem({ take_thread_control: { previous_owner_app_id: '1517776481860111' } }),
    type: 'handover',
    sender_id: USER_1,
    recipient_id: ACCOUNT_A,
    payload: { action: 'take_thread_control', previous_owner_app_id: '1517776481860111' },
  },
  {
    name: 'request thread control',
    field: 'messaging',
    item: messagingItem({ request_thread_control: { requested_owner_app_id: '263902037430900' } }),
    type: 'handover',
    sender_id: USER_1,
    recipient_id: ACCOUNT_A,
    payload: { action: 'request_thread_control', requested_owner_app_id: '263902037430900' },
  },
  {
    name: 'standby message',
    field: 'standby',
    item: messagingItem({ message: { mid: MID, text: 'hello?' } }),
    type: 'standby',
    sender_id: USER_1,
    recipient_id: ACCOUNT_A,
    payload: {
      inner_type: 'message.received',
      inner_payload: { mid: MID, text: 'hello?', attachments: [] },
    },
  },
  {
    name: 'standby read',
    field: 'standby',
    item: messagingItem({ read: { mid: MID } }),
    type: 'standby',
    sender_id: USER_1,
    recipient_id: ACCOUNT_A,
    payload: { inner_type: 'message.read', inner_payload: { mid: MID } },
  },
  {
    name: 'standby item of an unknown kind',
    field: 'standby',
    item: messagingItem({ game_play: { game_id: '1' } }),
    type: 'standby',
    sender_id: USER_1,
    recipient_id: ACCOUNT_A,
    payload: {
      inner_type: 'unknown',
      inner_payload: {
        reason: 'unrecognized_item',
        error: expect.stringContaining('keys: sender, recipient, timestamp, game_play'),
      },
    },
  },
  {
    name: 'comment',
    field: 'changes',
    item: {
      field: 'comments',
      value: {
        from: { id: '17841455555555555', username: 'ana.costa' },
        media: { id: '17999999999999999', media_product_type: 'FEED' },
        id: '17865555555555555',
        text: 'Love this color',
      },
    },
    type: 'comment',
    sender_id: '17841455555555555',
    recipient_id: null,
    payload: {
      comment_id: '17865555555555555',
      media_id: '17999999999999999',
      media_product_type: 'FEED',
      text: 'Love this color',
      from: { id: '17841455555555555', username: 'ana.costa' },
    },
  },
  {
    name: 'comment reply',
    field: 'changes',
    item: {
      field: 'comments',
      value: {
        from: { id: '17841455555555555' },
        media: { id: '17999999999999999' },
        id: '17865555555555556',
        parent_id: '17865555555555555',
        text: '@shop_one which sizes?',
      },
    },
    type: 'comment',
    sender_id: '17841455555555555',
    recipient_id: null,
    payload: {
      comment_id: '17865555555555556',
      media_id: '17999999999999999',
      text: '@shop_one which sizes?',
      from: { id: '17841455555555555' },
      parent_id: '17865555555555555',
    },
  },
  {
    name: 'live comment',
    field: 'changes',
    item: {
      field: 'live_comments',
      value: {
        from: { id: '17841455555555555', username: 'ana.costa' },
        media: { id: '17888888888888888', media_product_type: 'LIVE' },
        id: '17866666666666666',
        text: 'hi!',
      },
    },
    type: 'live_comment',
    sender_id: '17841455555555555',
    recipient_id: null,
    payload: {
      comment_id: '17866666666666666',
      media_id: '17888888888888888',
      media_product_type: 'LIVE',
      text: 'hi!',
      from: { id: '17841455555555555', username: 'ana.costa' },
    },
  },
  {
    name: 'mention in a comment',
    field: 'changes',
    item: {
      field: 'mentions',
      value: { media_id: '17999999999999998', comment_id: '17867777777777777' },
    },
    type: 'mention',
    sender_id: null,
    recipient_id: null,
    payload: { media_id: '17999999999999998', comment_id: '17867777777777777' },
  },
  {
    name: 'story insights',
    field: 'changes',
    item: {
      field: 'story_insights',
      value: {
        media_id: '17887498072083520',
        impressions: 444,
        reach: 44,
        taps_forward: 4,
        taps_back: 3,
        exits: 3,
        replies: 0,
      },
    },
    type: 'story_insights',
    sender_id: null,
    recipient_id: null,
    payload: {
      media_id: '17887498072083520',
      impressions: 444,
      reach: 44,
      taps_forward: 4,
      taps_back: 3,
      exits: 3,
      replies: 0,
    },
  },
  {
    name: 'change of an unknown field',
    field: 'changes',
    item: { field: 'messaging_seen', value: { something: 1 } },
    type: 'unknown',
    sender_id: null,
    recipient_id: null,
    payload: {
      reason: 'unrecognized_field',
      error:
        'field "messaging_seen" is not one of comments, live_comments, mentions, story_insights',
    },
  },
  {
    name: 'messaging item of an unknown kind',
    field: 'messaging',
    item: messagingItem({ game_play: { game_id: '1' } }),
    type: 'unknown',
    sender_id: USER_1,
    recipient_id: ACCOUNT_A,
    payload: { reason: 'unrecognized_item', error: expect.stringContaining('game_play') },
  },
];

describe('splitDelivery event types', () => {
  it.each(typeCases)('normalizes $name', (testCase) => {
    const event = splitOne(testCase.item, testCase.field);

    expect(event.type).toBe(testCase.type);
    expect(event.sender_id).toBe(testCase.sender_id);
    expect(event.recipient_id).toBe(testCase.recipient_id);
    expect(event.payload).toEqual(testCase.payload);
    expect(event.raw).toEqual(JSON.parse(JSON.stringify(testCase.item)));
    expect(event.source.field).toBe(testCase.field);
    routeAndValidate(event);
  });

  it('covers every event type', () => {
    const covered = new Set(typeCases.map((testCase) => testCase.type));
    expect([...covered].sort()).toEqual(
      [
        'message.received',
        'message.echo',
        'message.deleted',
        'message.edited',
        'message.unsupported',
        'message.reaction',
        'message.read',
        'postback',
        'referral',
        'optin',
        'handover',
        'standby',
        'comment',
        'live_comment',
        'mention',
        'story_insights',
        'unknown',
      ].sort(),
    );
  });

  it('accepts unknown fields and unknown attachment types', () => {
    const item = messagingItem({
      message: {
        mid: MID,
        text: 'look',
        attachments: [
          { type: 'hologram', payload: { url: 'https://lookaside.example/h', depth: 3 } },
          { type: 'fallback', payload: null },
          { type: 'mystery', payload: 'not an object' },
          { type: 'no_payload' },
        ],
        future_flag: true,
      },
      brand_new_top_level: { nested: [1, 2] },
    });

    const event = splitOne(item);

    expect(event.type).toBe('message.received');
    expect(event.payload).toEqual({
      mid: MID,
      text: 'look',
      attachments: [
        {
          type: 'hologram',
          url: 'https://lookaside.example/h',
          payload: { url: 'https://lookaside.example/h', depth: 3 },
        },
        { type: 'fallback', payload: null },
        { type: 'mystery', payload: 'not an object' },
        { type: 'no_payload', payload: null },
      ],
    });
    routeAndValidate(event);
  });

  it('decides echo before deleted and unsupported', () => {
    const item = messagingItem({ message: { mid: MID, is_echo: true, is_deleted: true } });
    expect(splitOne(item).type).toBe('message.echo');
  });

  it('reads a comment time from the change value', () => {
    const item = {
      field: 'comments',
      value: { id: '1', text: 'x', from: { id: '2' }, timestamp: TIME_S + 60 },
    };
    const entries = expectEnvelope(split(envelope([entry(ACCOUNT_A, { changes: [item] })])));
    expect(entries[0]?.events[0]?.occurred_at).toBe('2024-05-01T12:01:00.000Z');
  });
});
