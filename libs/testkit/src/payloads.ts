import { TestkitError, TestkitErrorCodes } from './errors.js';

/** `object` of a webhook body: `instagram` for Instagram messaging, `page` for Messenger. */
export type WebhookObject = 'instagram' | 'page';

export interface IdRef {
  id: string;
}

/** `message.reply_to`: a reply to a message, or to a story. */
export type ReplyTo = { mid: string } | { story: { url: string; id: string } };

export interface Attachment {
  type: string;
  payload?: Record<string, unknown>;
}

export interface MessagePayload {
  mid: string;
  text?: string;
  attachments?: Attachment[];
  is_echo?: true;
  is_deleted?: true;
  is_unsupported?: true;
  reply_to?: ReplyTo;
  quick_reply?: { payload: string };
  [field: string]: unknown;
}

/** One item of `entry[].messaging` or `entry[].standby`. */
export interface MessagingItem {
  sender: IdRef;
  recipient: IdRef;
  timestamp: number;
  message?: MessagePayload;
  [field: string]: unknown;
}

/** One item of `entry[].changes`. */
export interface ChangeItem {
  field: string;
  value: Record<string, unknown>;
}

export interface WebhookEntry {
  id: string;
  time: number;
  messaging?: MessagingItem[];
  changes?: ChangeItem[];
  standby?: MessagingItem[];
}

export interface WebhookBody {
  object: WebhookObject;
  entry: WebhookEntry[];
}

export interface WebhookEntryInput {
  /** The Instagram professional account id (`ig_business_id`), or the Page id for `page`. */
  id: string;
  /** Sent as given. Without it, the latest item `timestamp` (or `DEFAULT_START_TIME_MS`) is used. */
  time?: number;
  /** Unit of the default `time`. Meta sends seconds on some deliveries and milliseconds on others. */
  time_unit?: 'ms' | 's';
  messaging?: MessagingItem[];
  changes?: ChangeItem[];
  standby?: MessagingItem[];
}

export interface WebhookBodyInput {
  object?: WebhookObject;
  entries: WebhookEntryInput[];
}

/** 2025-01-01T00:00:00.000Z, the first default timestamp, so tests do not depend on the clock. */
export const DEFAULT_START_TIME_MS = 1_735_689_600_000;

// Real Instagram professional account ids commonly begin with these digits. The other 11 digits
// are the seed (5 digits) and a counter (6 digits).
const ID_PREFIX = '178414';
const MAX_SEED = 99_999;

/**
 * Builds a webhook body. Entries and their arrays are written in the given order, with the keys
 * in Meta's order (`id`, `time`, then `messaging`, `changes`, `standby`).
 */
export function webhookBody(input: WebhookBodyInput): WebhookBody {
  return {
    object: input.object ?? 'instagram',
    entry: input.entries.map(buildEntry),
  };
}

function buildEntry(input: WebhookEntryInput): WebhookEntry {
  const entry: WebhookEntry = { id: input.id, time: input.time ?? defaultEntryTime(input) };
  if (input.messaging !== undefined) entry.messaging = input.messaging;
  if (input.changes !== undefined) entry.changes = input.changes;
  if (input.standby !== undefined) entry.standby = input.standby;
  return entry;
}

function defaultEntryTime(input: WebhookEntryInput): number {
  let latestMs = 0;
  for (const item of [...(input.messaging ?? []), ...(input.standby ?? [])]) {
    latestMs = Math.max(latestMs, item.timestamp);
  }
  if (latestMs === 0) latestMs = DEFAULT_START_TIME_MS;

  return input.time_unit === 's' ? Math.floor(latestMs / 1000) : latestMs;
}

/** The two sides of a conversation. Without `timestamp`, the builder's clock supplies one (ms). */
export interface ConversationInput {
  ig_business_id: string;
  /** The customer's Instagram-scoped id. */
  igsid: string;
  timestamp?: number;
}

export interface TextMessageInput extends ConversationInput {
  text: string;
  mid?: string;
  reply_to?: ReplyTo;
  /** The `quick_reply.payload` of the button the customer tapped. */
  quick_reply?: string;
}

export interface AttachmentMessageInput extends ConversationInput {
  attachments: Attachment[];
  mid?: string;
  text?: string;
  reply_to?: ReplyTo;
}

export interface EchoInput extends ConversationInput {
  mid?: string;
  text?: string;
  attachments?: Attachment[];
}

export interface MidInput extends ConversationInput {
  mid?: string;
}

export interface ReactionInput extends ConversationInput {
  /** The message reacted to. */
  mid?: string;
  action?: 'react' | 'unreact';
  reaction?: string;
  emoji?: string;
}

export interface ReadInput extends ConversationInput {
  mid?: string;
  /** Messenger reports reads with a `watermark` (ms) in place of `mid`. */
  watermark?: number;
}

export interface PostbackInput extends ConversationInput {
  title: string;
  payload: string;
  mid?: string;
}

export interface ReferralInput extends ConversationInput {
  ref?: string;
  source?: string;
  type?: string;
  /** Extra referral fields such as `ad_id` or `ads_context_data`. */
  extra?: Record<string, unknown>;
}

export interface OptinInput extends ConversationInput {
  payload?: string;
  type?: string;
  /** Extra optin fields such as `notification_messages_frequency`. */
  extra?: Record<string, unknown>;
}

export interface HandoverInput extends ConversationInput {
  new_owner_app_id?: string;
  previous_owner_app_id?: string;
  metadata?: string;
}

export interface CommentChangeInput {
  text: string;
  comment_id?: string;
  /** The commenter's Instagram-scoped id. */
  igsid?: string;
  username?: string;
  media_id?: string;
  media_product_type?: string;
  /** Id of the comment this one replies to. */
  parent_id?: string;
}

export interface MentionChangeInput {
  media_id?: string;
  /** `null` leaves `comment_id` out, as for a mention in a caption. */
  comment_id?: string | null;
}

export interface StoryInsightsChangeInput {
  media_id?: string;
  exits?: number;
  replies?: number;
  reach?: number;
  taps_forward?: number;
  taps_back?: number;
  impressions?: number;
}

/** Attachment types that `attachment()` fills with a default payload. */
export type KnownAttachmentType =
  | 'image'
  | 'video'
  | 'audio'
  | 'file'
  | 'share'
  | 'story_mention'
  | 'ig_reel'
  | 'reel'
  | 'ig_post'
  | 'unsupported_type';

export interface MetaPayloadsOptions {
  /** Whole number from 0 to 99,999 that goes into every id, so builders with different seeds never share ids. */
  seed?: number;
  /** First timestamp handed out, in milliseconds. */
  startTimeMs?: number;
  /** Milliseconds between two timestamps handed out. */
  stepMs?: number;
}

/**
 * Builders of webhook items in the shapes Meta documents for Instagram messaging. Ids, `mid`s and
 * timestamps that the caller leaves out come from counters, so the same calls on a builder with
 * the same seed give the same bytes.
 */
export class MetaPayloads {
  private readonly seedDigits: string;
  private readonly startTimeMs: number;
  private readonly stepMs: number;
  private idCount = 0;
  private timestampCount = 0;

  constructor(options: MetaPayloadsOptions = {}) {
    const seed = options.seed ?? 0;
    if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
      throw new TestkitError(
        TestkitErrorCodes.PAYLOAD_SEED_INVALID,
        `seed must be a whole number from 0 to ${MAX_SEED}, got ${seed}`,
      );
    }
    this.seedDigits = String(seed).padStart(5, '0');
    this.startTimeMs = options.startTimeMs ?? DEFAULT_START_TIME_MS;
    this.stepMs = options.stepMs ?? 1000;
  }

  /**
   * Returns the next id: 17 digits such as `17841400000000001` for the first 999,999 ids of a
   * seed, and longer after that, so ids never repeat.
   */
  nextId(): string {
    this.idCount += 1;
    return `${ID_PREFIX}${this.seedDigits}${String(this.idCount).padStart(6, '0')}`;
  }

  /** Returns the next `mid`: URL-safe base64, like the `mid`s Instagram sends. */
  nextMid(): string {
    return Buffer.from(`ig_message_item:1:IGMessageID:${this.nextId()}`).toString('base64url');
  }

  /** Returns the next timestamp in milliseconds. */
  nextTimestamp(): number {
    const timestamp = this.startTimeMs + this.timestampCount * this.stepMs;
    this.timestampCount += 1;
    return timestamp;
  }

  /** Builds an attachment, with a default payload for the known types and `{}` for others. */
  attachment(
    type: KnownAttachmentType | (string & {}),
    payload?: Record<string, unknown>,
  ): Attachment {
    return { type, payload: payload ?? this.defaultAttachmentPayload(type) };
  }

  /** Builds a text message from the customer to the account. */
  textMessage(input: TextMessageInput): MessagingItem {
    const message: MessagePayload = { mid: input.mid ?? this.nextMid(), text: input.text };
    if (input.reply_to !== undefined) message.reply_to = input.reply_to;
    if (input.quick_reply !== undefined) message.quick_reply = { payload: input.quick_reply };
    return this.fromCustomer(input, { message });
  }

  /** Builds a message with attachments (and optional text) from the customer to the account. */
  attachmentMessage(input: AttachmentMessageInput): MessagingItem {
    const message: MessagePayload = { mid: input.mid ?? this.nextMid() };
    if (input.text !== undefined) message.text = input.text;
    message.attachments = input.attachments;
    if (input.reply_to !== undefined) message.reply_to = input.reply_to;
    return this.fromCustomer(input, { message });
  }

  /**
   * Builds the echo of a message the account sent: `is_echo: true`, with the account as sender
   * and the customer as recipient. Without text or attachments the echo carries a default text.
   */
  echo(input: EchoInput): MessagingItem {
    const message: MessagePayload = { mid: input.mid ?? this.nextMid() };
    if (input.text !== undefined || input.attachments === undefined) {
      message.text = input.text ?? 'Echo of a message sent by the account';
    }
    if (input.attachments !== undefined) message.attachments = input.attachments;
    message.is_echo = true;

    return {
      sender: { id: input.ig_business_id },
      recipient: { id: input.igsid },
      timestamp: input.timestamp ?? this.nextTimestamp(),
      message,
    };
  }

  /** Builds the notice that the customer deleted (unsent) a message. */
  deletedMessage(input: MidInput): MessagingItem {
    return this.fromCustomer(input, {
      message: { mid: input.mid ?? this.nextMid(), is_deleted: true },
    });
  }

  /** Builds a message whose content Instagram does not deliver to apps. */
  unsupportedMessage(input: MidInput): MessagingItem {
    return this.fromCustomer(input, {
      message: { mid: input.mid ?? this.nextMid(), is_unsupported: true },
    });
  }

  /** Builds a reaction. An `unreact` carries only `mid` and `action`. */
  reaction(input: ReactionInput): MessagingItem {
    const mid = input.mid ?? this.nextMid();
    if (input.action === 'unreact') {
      return this.fromCustomer(input, { reaction: { mid, action: 'unreact' } });
    }

    return this.fromCustomer(input, {
      reaction: {
        mid,
        action: 'react',
        reaction: input.reaction ?? 'love',
        emoji: input.emoji ?? '\u2764\ufe0f',
      },
    });
  }

  /** Builds a read receipt: `read.mid` as on Instagram, or `read.watermark` when given. */
  read(input: ReadInput): MessagingItem {
    const read =
      input.watermark !== undefined
        ? { watermark: input.watermark }
        : { mid: input.mid ?? this.nextMid() };
    return this.fromCustomer(input, { read });
  }

  /** Builds a postback from an icebreaker or a template button. */
  postback(input: PostbackInput): MessagingItem {
    return this.fromCustomer(input, {
      postback: { mid: input.mid ?? this.nextMid(), title: input.title, payload: input.payload },
    });
  }

  /**
   * Builds a referral, by default from an ig.me link opened in an existing conversation.
   * NOTE: `SHORTLINK` is Messenger's `source` for m.me links; Instagram may send another value.
   */
  referral(input: ReferralInput): MessagingItem {
    return this.fromCustomer(input, {
      referral: {
        ref: input.ref ?? 'testkit-referral',
        source: input.source ?? 'SHORTLINK',
        type: input.type ?? 'OPEN_THREAD',
        ...input.extra,
      },
    });
  }

  /** Builds an opt-in to marketing messages (`notification_messages`). */
  optin(input: OptinInput): MessagingItem {
    return this.fromCustomer(input, {
      optin: {
        type: input.type ?? 'notification_messages',
        payload: input.payload ?? 'testkit-optin',
        notification_messages_token: `token-${this.nextId()}`,
        ...input.extra,
      },
    });
  }

  /** Builds the handover event sent when another app passes the thread to this app. */
  passThreadControl(input: HandoverInput): MessagingItem {
    const pass: Record<string, unknown> = {
      new_owner_app_id: input.new_owner_app_id ?? this.nextId(),
      previous_owner_app_id: input.previous_owner_app_id ?? this.nextId(),
    };
    if (input.metadata !== undefined) pass.metadata = input.metadata;
    return this.fromCustomer(input, { pass_thread_control: pass });
  }

  /** Builds the handover event sent when another app takes the thread from this app. */
  takeThreadControl(input: HandoverInput): MessagingItem {
    const take: Record<string, unknown> = {
      previous_owner_app_id: input.previous_owner_app_id ?? this.nextId(),
      new_owner_app_id: input.new_owner_app_id ?? this.nextId(),
    };
    if (input.metadata !== undefined) take.metadata = input.metadata;
    return this.fromCustomer(input, { take_thread_control: take });
  }

  /** Builds a `comments` change: a comment on the account's media. */
  commentChange(input: CommentChangeInput): ChangeItem {
    return { field: 'comments', value: this.commentValue(input, 'FEED') };
  }

  /** Builds a `live_comments` change: a comment on the account's live video. */
  liveCommentChange(input: CommentChangeInput): ChangeItem {
    return { field: 'live_comments', value: this.commentValue(input, 'LIVE') };
  }

  /** Builds a `mentions` change: the account was @mentioned in a comment or caption. */
  mentionChange(input: MentionChangeInput = {}): ChangeItem {
    const value: Record<string, unknown> = { media_id: input.media_id ?? this.nextId() };
    if (input.comment_id !== null) value.comment_id = input.comment_id ?? this.nextId();
    return { field: 'mentions', value };
  }

  /** Builds a `story_insights` change, sent after one of the account's stories expired. */
  storyInsightsChange(input: StoryInsightsChangeInput = {}): ChangeItem {
    return {
      field: 'story_insights',
      value: {
        media_id: input.media_id ?? this.nextId(),
        exits: input.exits ?? 1,
        replies: input.replies ?? 0,
        reach: input.reach ?? 17,
        taps_forward: input.taps_forward ?? 12,
        taps_back: input.taps_back ?? 1,
        impressions: input.impressions ?? 28,
      },
    };
  }

  private fromCustomer(input: ConversationInput, payload: Record<string, unknown>): MessagingItem {
    return {
      sender: { id: input.igsid },
      recipient: { id: input.ig_business_id },
      timestamp: input.timestamp ?? this.nextTimestamp(),
      ...payload,
    };
  }

  private commentValue(
    input: CommentChangeInput,
    defaultProductType: string,
  ): Record<string, unknown> {
    const igsid = input.igsid ?? this.nextId();
    const value: Record<string, unknown> = {
      id: input.comment_id ?? this.nextId(),
      from: { id: igsid, username: input.username ?? `customer_${igsid.slice(-6)}` },
      text: input.text,
      media: {
        id: input.media_id ?? this.nextId(),
        media_product_type: input.media_product_type ?? defaultProductType,
      },
    };
    if (input.parent_id !== undefined) value.parent_id = input.parent_id;
    return value;
  }

  private defaultAttachmentPayload(type: string): Record<string, unknown> {
    switch (type) {
      case 'image':
      case 'video':
      case 'audio':
      case 'file':
      case 'share':
      case 'story_mention':
      case 'unsupported_type':
        return { url: this.cdnUrl() };
      case 'ig_reel':
      case 'reel':
        return {
          reel_video_id: this.nextId(),
          title: 'A reel shared by the customer',
          url: this.cdnUrl(),
        };
      case 'ig_post':
        return {
          ig_post_media_id: this.nextId(),
          title: 'A post shared by the customer',
          url: this.cdnUrl(),
        };
      default:
        return {};
    }
  }

  // Shaped like the lookaside CDN URLs that Meta sends; they expire, so nothing should fetch them.
  private cdnUrl(): string {
    return `https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=${this.nextId()}&signature=testkit`;
  }
}
