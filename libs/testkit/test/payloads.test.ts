import { describe, expect, it } from 'vitest';
import { toMetaJson } from '../src/meta-json.js';
import { DEFAULT_START_TIME_MS, MetaPayloads, webhookBody } from '../src/payloads.js';

const IG = '17841400000009999';
const IGSID = '1254459154682919';

describe('MetaPayloads ids', () => {
  it('starts ids at 17841400000000001', () => {
    const meta = new MetaPayloads();

    expect(meta.nextId()).toBe('17841400000000001');
    expect(meta.nextId()).toBe('17841400000000002');
  });

  it('puts the seed into ids', () => {
    expect(new MetaPayloads({ seed: 42 }).nextId()).toBe('17841400042000001');
  });

  it('gives 17-digit ids', () => {
    const meta = new MetaPayloads({ seed: 99_999 });

    for (let i = 0; i < 5; i += 1) expect(meta.nextId()).toMatch(/^\d{17}$/);
  });

  it('repeats the same output for the same seed', () => {
    const build = () => {
      const meta = new MetaPayloads({ seed: 7 });
      return toMetaJson(meta.textMessage({ ig_business_id: IG, igsid: IGSID, text: 'hi' }));
    };

    expect(build()).toBe(build());
  });

  it('gives distinct URL-safe mids', () => {
    const meta = new MetaPayloads();
    const mids = new Set(Array.from({ length: 100 }, () => meta.nextMid()));

    expect(mids.size).toBe(100);
    for (const mid of mids) expect(mid).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('advances timestamps by stepMs from startTimeMs', () => {
    const meta = new MetaPayloads({ startTimeMs: 1_000_000, stepMs: 250 });

    expect([meta.nextTimestamp(), meta.nextTimestamp(), meta.nextTimestamp()]).toEqual([
      1_000_000, 1_000_250, 1_000_500,
    ]);
  });

  it('rejects a seed outside 0 to 99999', () => {
    expect(() => new MetaPayloads({ seed: 100_000 })).toThrowError(
      expect.objectContaining({ code: 'PAYLOAD_SEED_INVALID' }),
    );
  });
});

describe('MetaPayloads messaging items', () => {
  it('builds a text message with reply_to and quick_reply', () => {
    const meta = new MetaPayloads();
    const item = meta.textMessage({
      ig_business_id: IG,
      igsid: IGSID,
      text: 'Is this in stock?',
      mid: 'mid-1',
      reply_to: { mid: 'mid-0' },
      quick_reply: 'STOCK_CHECK',
    });

    expect(item).toEqual({
      sender: { id: IGSID },
      recipient: { id: IG },
      timestamp: DEFAULT_START_TIME_MS,
      message: {
        mid: 'mid-1',
        text: 'Is this in stock?',
        reply_to: { mid: 'mid-0' },
        quick_reply: { payload: 'STOCK_CHECK' },
      },
    });
  });

  it('builds a reply to a story', () => {
    const meta = new MetaPayloads();
    const item = meta.textMessage({
      ig_business_id: IG,
      igsid: IGSID,
      text: 'Nice!',
      reply_to: { story: { url: 'https://lookaside.fbsbx.com/s', id: '17900000000000001' } },
    });

    expect(item.message?.reply_to).toEqual({
      story: { url: 'https://lookaside.fbsbx.com/s', id: '17900000000000001' },
    });
  });

  it.each([
    ['image', ['url']],
    ['video', ['url']],
    ['audio', ['url']],
    ['file', ['url']],
    ['share', ['url']],
    ['story_mention', ['url']],
    ['unsupported_type', ['url']],
    ['ig_reel', ['reel_video_id', 'title', 'url']],
    ['reel', ['reel_video_id', 'title', 'url']],
    ['ig_post', ['ig_post_media_id', 'title', 'url']],
  ])('builds a %s attachment with payload keys %j', (type, keys) => {
    const meta = new MetaPayloads();
    const attachment = meta.attachment(type);

    expect(attachment.type).toBe(type);
    expect(Object.keys(attachment.payload ?? {})).toEqual(keys);
    expect(attachment.payload?.url).toMatch(
      /^https:\/\/lookaside\.fbsbx\.com\/ig_messaging_cdn\/\?asset_id=\d{17}/,
    );
  });

  it('keeps an unknown attachment type and its payload', () => {
    const meta = new MetaPayloads();

    expect(meta.attachment('hologram', { depth: 3 })).toEqual({
      type: 'hologram',
      payload: { depth: 3 },
    });
    expect(meta.attachment('hologram')).toEqual({ type: 'hologram', payload: {} });
  });

  it('builds a message with several attachments', () => {
    const meta = new MetaPayloads();
    const attachments = [meta.attachment('image'), meta.attachment('story_mention')];
    const item = meta.attachmentMessage({
      ig_business_id: IG,
      igsid: IGSID,
      attachments,
      mid: 'mid-2',
    });

    expect(item.message).toEqual({ mid: 'mid-2', attachments });
    expect(item.sender).toEqual({ id: IGSID });
  });

  it('swaps sender and recipient on an echo', () => {
    const meta = new MetaPayloads();
    const item = meta.echo({ ig_business_id: IG, igsid: IGSID, text: 'Thanks!', mid: 'mid-3' });

    expect(item).toEqual({
      sender: { id: IG },
      recipient: { id: IGSID },
      timestamp: DEFAULT_START_TIME_MS,
      message: { mid: 'mid-3', text: 'Thanks!', is_echo: true },
    });
  });

  it('builds deleted and unsupported messages', () => {
    const meta = new MetaPayloads();

    expect(meta.deletedMessage({ ig_business_id: IG, igsid: IGSID, mid: 'mid-4' }).message).toEqual(
      {
        mid: 'mid-4',
        is_deleted: true,
      },
    );
    expect(
      meta.unsupportedMessage({ ig_business_id: IG, igsid: IGSID, mid: 'mid-5' }).message,
    ).toEqual({ mid: 'mid-5', is_unsupported: true });
  });

  it('builds react and unreact', () => {
    const meta = new MetaPayloads();
    const react = meta.reaction({
      ig_business_id: IG,
      igsid: IGSID,
      mid: 'mid-6',
      emoji: '😂',
      reaction: 'laugh',
    });
    const unreact = meta.reaction({
      ig_business_id: IG,
      igsid: IGSID,
      mid: 'mid-6',
      action: 'unreact',
    });

    expect(react.reaction).toEqual({
      mid: 'mid-6',
      action: 'react',
      reaction: 'laugh',
      emoji: '😂',
    });
    expect(unreact.reaction).toEqual({ mid: 'mid-6', action: 'unreact' });
  });

  it('builds read with mid, or watermark for Messenger', () => {
    const meta = new MetaPayloads();

    expect(meta.read({ ig_business_id: IG, igsid: IGSID, mid: 'mid-7' }).read).toEqual({
      mid: 'mid-7',
    });
    expect(
      meta.read({ ig_business_id: IG, igsid: IGSID, watermark: 1_735_689_600_123 }).read,
    ).toEqual({
      watermark: 1_735_689_600_123,
    });
  });

  it('builds a postback', () => {
    const meta = new MetaPayloads();
    const item = meta.postback({
      ig_business_id: IG,
      igsid: IGSID,
      title: 'Track order',
      payload: 'TRACK',
      mid: 'mid-8',
    });

    expect(item.postback).toEqual({ mid: 'mid-8', title: 'Track order', payload: 'TRACK' });
  });

  it('builds referral and optin', () => {
    const meta = new MetaPayloads();
    const referral = meta.referral({
      ig_business_id: IG,
      igsid: IGSID,
      ref: 'spring',
      extra: { ad_id: '1' },
    });
    const optin = meta.optin({ ig_business_id: IG, igsid: IGSID, payload: 'weekly' });

    expect(referral.referral).toEqual({
      ref: 'spring',
      source: 'SHORTLINK',
      type: 'OPEN_THREAD',
      ad_id: '1',
    });
    expect(optin.optin).toMatchObject({ type: 'notification_messages', payload: 'weekly' });
    expect(optin.optin).toHaveProperty('notification_messages_token');
  });

  it('builds pass and take thread control', () => {
    const meta = new MetaPayloads();
    const pass = meta.passThreadControl({
      ig_business_id: IG,
      igsid: IGSID,
      new_owner_app_id: '111',
      previous_owner_app_id: '222',
      metadata: 'escalated',
    });
    const take = meta.takeThreadControl({
      ig_business_id: IG,
      igsid: IGSID,
      new_owner_app_id: '222',
      previous_owner_app_id: '111',
    });

    expect(pass.pass_thread_control).toEqual({
      new_owner_app_id: '111',
      previous_owner_app_id: '222',
      metadata: 'escalated',
    });
    expect(take.take_thread_control).toEqual({
      previous_owner_app_id: '111',
      new_owner_app_id: '222',
    });
  });
});

describe('MetaPayloads changes items', () => {
  it('builds a comments change', () => {
    const meta = new MetaPayloads();
    const change = meta.commentChange({
      text: 'Love it @shop',
      comment_id: '17865799348089039',
      igsid: IGSID,
      username: 'customer',
      media_id: '17887498072083520',
    });

    expect(change).toEqual({
      field: 'comments',
      value: {
        id: '17865799348089039',
        from: { id: IGSID, username: 'customer' },
        text: 'Love it @shop',
        media: { id: '17887498072083520', media_product_type: 'FEED' },
      },
    });
  });

  it('builds a live_comments change with a parent_id', () => {
    const meta = new MetaPayloads();
    const change = meta.liveCommentChange({ text: 'hi', parent_id: '17800000000000001' });

    expect(change.field).toBe('live_comments');
    expect(change.value).toMatchObject({
      parent_id: '17800000000000001',
      media: { media_product_type: 'LIVE' },
    });
  });

  it('builds mentions with and without comment_id', () => {
    const meta = new MetaPayloads();

    expect(meta.mentionChange({ media_id: '1', comment_id: '2' })).toEqual({
      field: 'mentions',
      value: { media_id: '1', comment_id: '2' },
    });
    expect(meta.mentionChange({ media_id: '1', comment_id: null })).toEqual({
      field: 'mentions',
      value: { media_id: '1' },
    });
  });

  it('builds a story_insights change', () => {
    const meta = new MetaPayloads();

    expect(meta.storyInsightsChange({ media_id: '18023345989012587', reach: 40 })).toEqual({
      field: 'story_insights',
      value: {
        media_id: '18023345989012587',
        exits: 1,
        replies: 0,
        reach: 40,
        taps_forward: 12,
        taps_back: 1,
        impressions: 28,
      },
    });
  });
});

describe('webhookBody', () => {
  it('wraps entries with messaging, changes and standby', () => {
    const meta = new MetaPayloads();
    const text = meta.textMessage({
      ig_business_id: IG,
      igsid: IGSID,
      text: 'hi',
      timestamp: 1_700_000_000_500,
    });
    const change = meta.mentionChange();
    const standby = meta.textMessage({
      ig_business_id: IG,
      igsid: IGSID,
      text: 'later',
      timestamp: 1_700_000_001_000,
    });

    const body = webhookBody({
      entries: [
        { id: IG, messaging: [text], standby: [standby] },
        { id: IG, time: 1_700_000_002, changes: [change] },
      ],
    });

    expect(body).toEqual({
      object: 'instagram',
      entry: [
        { id: IG, time: 1_700_000_001_000, messaging: [text], standby: [standby] },
        { id: IG, time: 1_700_000_002, changes: [change] },
      ],
    });
  });

  it('writes entry keys in the order id, time, messaging', () => {
    const meta = new MetaPayloads();
    const body = webhookBody({
      entries: [{ id: IG, messaging: [meta.read({ ig_business_id: IG, igsid: IGSID, mid: 'm' })] }],
    });

    expect(Object.keys(body.entry[0] ?? {})).toEqual(['id', 'time', 'messaging']);
    expect(Object.keys(body)).toEqual(['object', 'entry']);
  });

  it('gives entry.time in seconds when time_unit is s', () => {
    const meta = new MetaPayloads();
    const item = meta.textMessage({
      ig_business_id: IG,
      igsid: IGSID,
      text: 'hi',
      timestamp: 1_700_000_000_999,
    });
    const body = webhookBody({ entries: [{ id: IG, time_unit: 's', messaging: [item] }] });

    expect(body.entry[0]?.time).toBe(1_700_000_000);
  });

  it('uses the default start time for an entry without timestamps', () => {
    const body = webhookBody({ object: 'page', entries: [{ id: '1', changes: [] }] });

    expect(body).toEqual({
      object: 'page',
      entry: [{ id: '1', time: DEFAULT_START_TIME_MS, changes: [] }],
    });
  });
});
