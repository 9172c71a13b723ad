import type { z } from 'zod';
import { canonicalJson } from './event-id.js';
import type {
  EventType,
  ItemField,
  MessagingEventType,
  PayloadByType,
  UnknownReason,
} from './event-v1.js';
import {
  changeValueTimeFields,
  handoverActions,
  type MetaAttachment,
  type MetaMessage,
  type MetaReferral,
  metaChangeSchema,
  metaCommentValueSchema,
  metaHandoverSchema,
  metaMentionValueSchema,
  metaMessageEditSchema,
  metaMessageSchema,
  metaMessagingItemSchema,
  metaOptinSchema,
  metaPostbackSchema,
  metaReactionSchema,
  metaReadSchema,
  metaReferralSchema,
  metaStoryInsightsValueSchema,
  metaTimeSchema,
  toEpochMs,
} from './meta-webhook.js';
import { describeIssues, type FieldIssue, formatIssues } from './zod-issues.js';

// Turns one `messaging`, `changes` or `standby` item into a typed event body. An item that fails
// validation becomes `unknown`, and `normalizeItem` returns a result for any input.

/** The typed part of an event, before the account, envelope and Kafka source are added. */
export type NormalizedItem<T extends EventType = EventType> = {
  [K in T]: {
    type: K;
    payload: PayloadByType[K];
    sender_id: string | null;
    recipient_id: string | null;
    /** Meta's time of the item in epoch milliseconds, or null when the item carries none. */
    occurredAtMs: number | null;
    /** Values after account and type that name the item in its `event_id`. */
    identity: unknown[];
  };
}[T];

type MessagingItem = NormalizedItem<MessagingEventType>;

interface ItemParties {
  sender_id: string | null;
  recipient_id: string | null;
  occurredAtMs: number | null;
}

/** Raised inside this module when an item fails its schema; becomes an `invalid_item` event. */
class InvalidItemError extends Error {
  readonly issues: FieldIssue[];

  constructor(issues: FieldIssue[]) {
    super(formatIssues(issues));
    this.issues = issues;
  }
}

const ITEM_ROOT = 'item';

/** Checks for a JSON object: not null and not an array. */
function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describeJsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function parsePart<S extends z.ZodType>(
  schema: S,
  value: unknown,
  basePath: readonly PropertyKey[],
): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new InvalidItemError(describeIssues(result.error, ITEM_ROOT, basePath));
  }
  return result.data;
}

function requireObject(item: unknown): Record<string, unknown> {
  if (!isRecord(item)) {
    throw new InvalidItemError([
      { path: ITEM_ROOT, message: `expected an object, got ${describeJsonType(item)}` },
    ]);
  }
  return item;
}

/** Copies `source` without its null and undefined members. */
function withoutNullish(source: Record<string, unknown>): Record<string, unknown> {
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(source)) {
    if (value === null || value === undefined) continue;
    // defineProperty keeps a member named __proto__ as data instead of replacing the prototype.
    Object.defineProperty(copy, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return copy;
}

function optionalMember<K extends string, V>(key: K, value: V | null | undefined) {
  return (value === null || value === undefined ? {} : { [key]: value }) as
    | { [P in K]: V }
    | Record<never, never>;
}

function unknownItem(
  reason: UnknownReason,
  error: string,
  parties: ItemParties,
  item: unknown,
): NormalizedItem<'unknown'> {
  return {
    type: 'unknown',
    payload: { reason, error },
    ...parties,
    identity: [canonicalJson(item)],
  };
}

/** Reads the sender, recipient and time of an item that failed validation, where readable. */
function readPartiesLoosely(item: unknown): ItemParties {
  if (!isRecord(item)) return { sender_id: null, recipient_id: null, occurredAtMs: null };
  return {
    sender_id: readIdLoosely(item.sender),
    recipient_id: readIdLoosely(item.recipient),
    occurredAtMs: toEpochMs(item.timestamp),
  };
}

function readIdLoosely(user: unknown): string | null {
  if (!isRecord(user)) return null;
  const id = user.id;
  if (typeof id === 'string' && id !== '') return id;
  if (typeof id === 'number' && Number.isSafeInteger(id) && id >= 0) return String(id);
  return null;
}

/**
 * Normalizes one item found under `field`. Never throws: an item that fails validation becomes
 * `unknown` with reason `invalid_item`, and an unexpected error inside the normalizer becomes
 * `unknown` with reason `normalization_failed`, so one item never blocks the others.
 */
export function normalizeItem(field: ItemField, item: unknown): NormalizedItem {
  try {
    if (field === 'messaging') return normalizeMessagingItem(item);
    if (field === 'standby') return normalizeStandbyItem(item);
    return normalizeChangeItem(item);
  } catch (error) {
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return {
      type: 'unknown',
      payload: { reason: 'normalization_failed', error: reason },
      sender_id: null,
      recipient_id: null,
      occurredAtMs: null,
      identity: [canonicalJsonOrNull(item)],
    };
  }
}

/**
 * Normalizes an `entry.messaging`, `entry.changes` or `entry.standby` member that is not an
 * array: it becomes one `invalid_item` event carrying the whole member, so nothing is dropped.
 */
export function normalizeInvalidItemList(field: ItemField, value: unknown): NormalizedItem {
  return unknownItem(
    'invalid_item',
    `entry.${field}: expected an array, got ${describeJsonType(value)}`,
    { sender_id: null, recipient_id: null, occurredAtMs: null },
    value,
  );
}

// canonicalJson fails only past the stack limit, and parseJsonLossless bounds nesting well
// below it. Should it fail anyway, such items of one account share an event_id.
function canonicalJsonOrNull(item: unknown): string | null {
  try {
    return canonicalJson(item);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// messaging and standby items

/** Normalizes one `entry[].messaging` item. */
export function normalizeMessagingItem(item: unknown): MessagingItem {
  try {
    return classifyMessagingItem(item);
  } catch (error) {
    if (!(error instanceof InvalidItemError)) throw error;
    return unknownItem('invalid_item', error.message, readPartiesLoosely(item), item);
  }
}

/**
 * Normalizes one `entry[].standby` item: the event is `standby`, and its payload contains the type
 * and payload the item would have under `messaging`, `unknown` included.
 */
export function normalizeStandbyItem(item: unknown): NormalizedItem<'standby'> {
  const inner = normalizeMessagingItem(item);
  return {
    type: 'standby',
    payload: { inner_type: inner.type, inner_payload: inner.payload } as PayloadByType['standby'],
    sender_id: inner.sender_id,
    recipient_id: inner.recipient_id,
    occurredAtMs: inner.occurredAtMs,
    identity: [inner.type, ...inner.identity],
  };
}

const MESSAGING_KINDS = [
  'message',
  'message_edit',
  'reaction',
  'read',
  'postback',
  'referral',
  'optin',
  ...handoverActions,
] as const;

type MessagingKind = (typeof MESSAGING_KINDS)[number];

/** Finds the first kind key present, in this order, since a message may also carry `referral`. */
function findMessagingKind(item: Record<string, unknown>): MessagingKind | null {
  for (const kind of MESSAGING_KINDS) {
    if (item[kind] !== undefined) return kind;
  }
  return null;
}

const MAX_LISTED_KEYS = 20;

function classifyMessagingItem(item: unknown): MessagingItem {
  const record = requireObject(item);
  const kind = findMessagingKind(record);
  if (kind === null) {
    const keys = Object.keys(record).slice(0, MAX_LISTED_KEYS).join(', ');
    return unknownItem(
      'unrecognized_item',
      `no known event field (${MESSAGING_KINDS.join(', ')}) in an item with keys: ${keys}`,
      readPartiesLoosely(item),
      item,
    );
  }

  const base = parsePart(metaMessagingItemSchema, record, []);
  if (kind !== 'optin' && !base.sender) {
    throw new InvalidItemError([{ path: 'sender', message: 'missing; expected {id}' }]);
  }
  const parties: ItemParties = {
    sender_id: base.sender?.id ?? null,
    recipient_id: base.recipient.id,
    occurredAtMs: base.timestamp ?? null,
  };

  switch (kind) {
    case 'message':
      return normalizeMessage(parsePart(metaMessageSchema, record.message, ['message']), parties);
    case 'message_edit':
      return normalizeMessageEdit(record.message_edit, parties);
    case 'reaction':
      return normalizeReaction(record.reaction, parties);
    case 'read':
      return normalizeRead(record.read, parties, item);
    case 'postback':
      return normalizePostback(record.postback, parties, item);
    case 'referral': {
      const referral = parsePart(metaReferralSchema, record.referral, ['referral']);
      return {
        type: 'referral',
        payload: toReferralPayload(referral),
        ...parties,
        identity: [canonicalJson(item)],
      };
    }
    case 'optin': {
      const optin = parsePart(metaOptinSchema, record.optin, ['optin']);
      return {
        type: 'optin',
        payload: withoutNullish(optin),
        ...parties,
        identity: [canonicalJson(item)],
      };
    }
    default:
      return normalizeHandover(kind, record[kind], parties, item);
  }
}

function normalizeMessage(message: MetaMessage, parties: ItemParties): MessagingItem {
  // Echo first: an echo keeps sender and recipient as Meta sent them, which on echoes are the
  // account and the user, the reverse of a received message.
  if (message.is_echo === true) {
    return {
      type: 'message.echo',
      payload: toMessagePayload(message),
      ...parties,
      identity: [message.mid],
    };
  }
  if (message.is_deleted === true) {
    return {
      type: 'message.deleted',
      payload: { mid: message.mid },
      ...parties,
      identity: [message.mid],
    };
  }
  if (message.is_unsupported === true) {
    return {
      type: 'message.unsupported',
      payload: { mid: message.mid },
      ...parties,
      identity: [message.mid],
    };
  }
  return {
    type: 'message.received',
    payload: toMessagePayload(message),
    ...parties,
    identity: [message.mid],
  };
}

function toMessagePayload(message: MetaMessage): PayloadByType['message.received'] {
  const replyTo = message.reply_to;
  const story = replyTo?.story;
  return {
    mid: message.mid,
    text: message.text ?? null,
    attachments: (message.attachments ?? []).map(toAttachmentPayload),
    ...optionalMember(
      'reply_to',
      replyTo
        ? {
            ...optionalMember('mid', replyTo.mid),
            ...optionalMember(
              'story',
              story
                ? { ...optionalMember('id', story.id), ...optionalMember('url', story.url) }
                : null,
            ),
          }
        : null,
    ),
    ...optionalMember('quick_reply_payload', message.quick_reply?.payload),
    ...optionalMember('referral', message.referral ? toReferralPayload(message.referral) : null),
  };
}

function toAttachmentPayload(
  attachment: MetaAttachment,
): PayloadByType['message.received']['attachments'][number] {
  const payload = attachment.payload ?? null;
  const url = isRecord(payload) && typeof payload.url === 'string' ? payload.url : null;
  const title = isRecord(payload) && typeof payload.title === 'string' ? payload.title : null;
  return {
    type: attachment.type,
    ...optionalMember('url', url),
    ...optionalMember('title', title),
    payload,
  };
}

function toReferralPayload(referral: MetaReferral): PayloadByType['referral'] {
  return withoutNullish(referral);
}

function normalizeMessageEdit(value: unknown, parties: ItemParties): MessagingItem {
  const edit = parsePart(metaMessageEditSchema, value, ['message_edit']);
  return {
    type: 'message.edited',
    payload: {
      mid: edit.mid,
      text: edit.text ?? null,
      ...optionalMember('num_edit', edit.num_edit),
    },
    ...parties,
    // Each edit of one message is its own event.
    identity: [edit.mid, edit.num_edit ?? null, edit.text ?? null],
  };
}

function normalizeReaction(value: unknown, parties: ItemParties): MessagingItem {
  const reaction = parsePart(metaReactionSchema, value, ['reaction']);
  return {
    type: 'message.reaction',
    payload: {
      mid: reaction.mid,
      action: reaction.action,
      ...optionalMember('reaction', reaction.reaction),
      ...optionalMember('emoji', reaction.emoji),
    },
    ...parties,
    // One message can be reacted to, unreacted and reacted to again, by either participant.
    identity: [
      reaction.mid,
      reaction.action,
      reaction.reaction ?? null,
      reaction.emoji ?? null,
      parties.sender_id,
    ],
  };
}

function normalizeRead(value: unknown, parties: ItemParties, item: unknown): MessagingItem {
  const read = parsePart(metaReadSchema, value, ['read']);
  const marker = read.mid ?? read.watermark ?? null;
  return {
    type: 'message.read',
    payload: { ...optionalMember('mid', read.mid), ...optionalMember('watermark', read.watermark) },
    ...parties,
    identity: marker === null ? [canonicalJson(item)] : [marker, parties.sender_id],
  };
}

function normalizePostback(value: unknown, parties: ItemParties, item: unknown): MessagingItem {
  const postback = parsePart(metaPostbackSchema, value, ['postback']);
  return {
    type: 'postback',
    payload: {
      ...optionalMember('mid', postback.mid),
      ...optionalMember('title', postback.title),
      ...optionalMember('payload', postback.payload),
      ...optionalMember(
        'referral',
        postback.referral ? toReferralPayload(postback.referral) : null,
      ),
    },
    ...parties,
    identity: postback.mid ? [postback.mid] : [canonicalJson(item)],
  };
}

function normalizeHandover(
  action: (typeof handoverActions)[number],
  value: unknown,
  parties: ItemParties,
  item: unknown,
): MessagingItem {
  const handover = parsePart(metaHandoverSchema, value, [action]);
  return {
    type: 'handover',
    payload: {
      action,
      ...optionalMember('new_owner_app_id', handover.new_owner_app_id),
      ...optionalMember('previous_owner_app_id', handover.previous_owner_app_id),
      ...optionalMember('requested_owner_app_id', handover.requested_owner_app_id),
      ...optionalMember('metadata', handover.metadata),
    },
    ...parties,
    identity: [canonicalJson(item)],
  };
}

// ---------------------------------------------------------------------------------------------
// changes items

const CHANGE_TYPES = {
  comments: 'comment',
  live_comments: 'live_comment',
  mentions: 'mention',
  story_insights: 'story_insights',
} as const;

/** Normalizes one `entry[].changes` item (`field` and `value`). */
export function normalizeChangeItem(item: unknown): NormalizedItem {
  try {
    return classifyChangeItem(item);
  } catch (error) {
    if (!(error instanceof InvalidItemError)) throw error;
    return unknownItem(
      'invalid_item',
      error.message,
      { sender_id: null, recipient_id: null, occurredAtMs: readChangeTimeLoosely(item) },
      item,
    );
  }
}

function classifyChangeItem(item: unknown): NormalizedItem {
  const change = parsePart(metaChangeSchema, requireObject(item), []);
  const field = change.field;
  if (!Object.hasOwn(CHANGE_TYPES, field)) {
    return unknownItem(
      'unrecognized_field',
      `field "${field}" is not one of ${Object.keys(CHANGE_TYPES).join(', ')}`,
      { sender_id: null, recipient_id: null, occurredAtMs: readChangeTimeLoosely(item) },
      item,
    );
  }

  const occurredAtMs = readChangeTime(change.value);
  const type = CHANGE_TYPES[field as keyof typeof CHANGE_TYPES];
  switch (type) {
    case 'comment':
    case 'live_comment': {
      const comment = parsePart(metaCommentValueSchema, change.value, ['value']);
      return {
        type,
        payload: {
          comment_id: comment.id,
          ...optionalMember('media_id', comment.media?.id),
          ...optionalMember('media_product_type', comment.media?.media_product_type),
          text: comment.text,
          from: { id: comment.from.id, ...optionalMember('username', comment.from.username) },
          ...optionalMember('parent_id', comment.parent_id),
        },
        sender_id: comment.from.id,
        recipient_id: null,
        occurredAtMs,
        identity: [comment.id],
      };
    }
    case 'mention': {
      const mention = parsePart(metaMentionValueSchema, change.value, ['value']);
      return {
        type,
        payload: {
          media_id: mention.media_id,
          ...optionalMember('comment_id', mention.comment_id),
        },
        sender_id: null,
        recipient_id: null,
        occurredAtMs,
        identity: [mention.media_id, mention.comment_id ?? null],
      };
    }
    case 'story_insights': {
      const insights = parsePart(metaStoryInsightsValueSchema, change.value, ['value']);
      const { media_id, impressions, reach, taps_forward, taps_back, exits, replies } = insights;
      return {
        type,
        payload: {
          media_id,
          ...optionalMember('impressions', impressions),
          ...optionalMember('reach', reach),
          ...optionalMember('taps_forward', taps_forward),
          ...optionalMember('taps_back', taps_back),
          ...optionalMember('exits', exits),
          ...optionalMember('replies', replies),
        },
        sender_id: null,
        recipient_id: null,
        occurredAtMs,
        identity: [canonicalJson(item)],
      };
    }
  }
}

/** Reads the first time field of a change value; a present but invalid one fails the item. */
function readChangeTime(value: unknown): number | null {
  if (!isRecord(value)) return null;
  for (const field of changeValueTimeFields) {
    if (value[field] !== undefined)
      return parsePart(metaTimeSchema, value[field], ['value', field]);
  }
  return null;
}

function readChangeTimeLoosely(item: unknown): number | null {
  if (!isRecord(item) || !isRecord(item.value)) return null;
  for (const field of changeValueTimeFields) {
    const epochMs = toEpochMs(item.value[field]);
    if (epochMs !== null) return epochMs;
  }
  return null;
}
