import { z } from 'zod';

// Schemas for the JSON that Meta POSTs to the webhook. Every object is loose, because Meta adds
// fields without notice and an unknown field must not fail a batch. Ids arrive as strings or as
// JSON numbers, so the id schemas accept both and output strings. Parse bodies with
// `parseJsonLossless`, which keeps ids longer than 15 digits as exact strings.

/** Latest accepted time, 9999-12-31T23:59:59.999Z: ISO-8601 writes later years in 5+ digits. */
export const MAX_EPOCH_MS = 253_402_300_799_999;

/** Values below this are epoch seconds, values from it up are epoch milliseconds. */
export const SECONDS_THRESHOLD = 100_000_000_000;

/** Meta id: a non-empty string, or a whole number (as Meta sends ids in some payloads). */
export const metaIdSchema = z
  .union([z.string().min(1), z.int().nonnegative()], {
    error: 'expected an id as a non-empty string or a whole number',
  })
  .transform((value) => String(value));

/**
 * Converts a Meta time to epoch milliseconds by magnitude, because Meta sends `entry.time` in
 * seconds or milliseconds: values below 10^11 are seconds, larger values milliseconds. Returns
 * null for anything that is not a non-negative number (or digit string) up to year 9999.
 */
export function toEpochMs(value: unknown): number | null {
  let numeric: number;
  if (typeof value === 'number') {
    numeric = value;
  } else if (typeof value === 'string' && /^\d{1,20}$/.test(value)) {
    numeric = Number(value);
  } else {
    return null;
  }

  if (!Number.isFinite(numeric) || numeric < 0) return null;
  const epochMs = Math.floor(numeric < SECONDS_THRESHOLD ? numeric * 1000 : numeric);
  return epochMs <= MAX_EPOCH_MS ? epochMs : null;
}

/** Meta time in seconds or milliseconds, output as epoch milliseconds. */
export const metaTimeSchema = z.unknown().transform((value, ctx) => {
  const epochMs = toEpochMs(value);
  if (epochMs === null) {
    ctx.addIssue({
      code: 'custom',
      message: 'expected epoch seconds or milliseconds as a non-negative number up to year 9999',
    });
    return z.NEVER;
  }
  return epochMs;
});

export const metaUserSchema = z.looseObject({ id: metaIdSchema });

/** One `message.attachments[]` element. Any `type` is accepted, including future ones. */
export const metaAttachmentSchema = z.looseObject({
  type: z.string().min(1),
  payload: z.unknown().optional(),
});

export const metaReferralSchema = z.looseObject({
  ref: z.string().nullish(),
  source: z.string().nullish(),
  type: z.string().nullish(),
  ad_id: metaIdSchema.nullish(),
});

/** `message.reply_to`: a reply to a message (`mid`) or to a story (`story.id`, `story.url`). */
export const metaReplyToSchema = z.looseObject({
  mid: z.string().min(1).nullish(),
  story: z
    .looseObject({
      id: metaIdSchema.nullish(),
      url: z.string().nullish(),
    })
    .nullish(),
});

export const metaMessageSchema = z.looseObject({
  mid: z.string().min(1),
  text: z.string().nullish(),
  attachments: z.array(metaAttachmentSchema).nullish(),
  is_echo: z.boolean().nullish(),
  is_deleted: z.boolean().nullish(),
  is_unsupported: z.boolean().nullish(),
  reply_to: metaReplyToSchema.nullish(),
  quick_reply: z.looseObject({ payload: z.string() }).nullish(),
  referral: metaReferralSchema.nullish(),
});

/** `message_edit`: the new text of an edited message and how many times it was edited. */
export const metaMessageEditSchema = z.looseObject({
  mid: z.string().min(1),
  text: z.string().nullish(),
  num_edit: z.int().nonnegative().nullish(),
});

export const metaReactionSchema = z.looseObject({
  mid: z.string().min(1),
  action: z.enum(['react', 'unreact']),
  reaction: z.string().nullish(),
  emoji: z.string().nullish(),
});

export const metaPostbackSchema = z.looseObject({
  mid: z.string().min(1).nullish(),
  title: z.string().nullish(),
  payload: z.string().nullish(),
  referral: metaReferralSchema.nullish(),
});

/** `read`: Instagram sends the `mid` read, Messenger a `watermark` time in milliseconds. */
export const metaReadSchema = z.looseObject({
  mid: z.string().min(1).nullish(),
  watermark: z.number().nonnegative().nullish(),
});

export const metaOptinSchema = z.looseObject({
  ref: z.string().nullish(),
  user_ref: z.string().nullish(),
  type: z.string().nullish(),
  payload: z.string().nullish(),
});

/** The three handover objects share one shape; which app ids are present depends on the kind. */
export const metaHandoverSchema = z.looseObject({
  new_owner_app_id: metaIdSchema.nullish(),
  previous_owner_app_id: metaIdSchema.nullish(),
  requested_owner_app_id: metaIdSchema.nullish(),
  metadata: z.string().nullish(),
});

export const handoverActions = [
  'pass_thread_control',
  'take_thread_control',
  'request_thread_control',
] as const;

export type HandoverAction = (typeof handoverActions)[number];

/**
 * The fields common to every `entry[].messaging` and `entry[].standby` item. `sender` is
 * absent on some Messenger opt-ins, which name the user by `optin.user_ref`.
 */
export const metaMessagingItemSchema = z.looseObject({
  sender: metaUserSchema.nullish(),
  recipient: metaUserSchema,
  timestamp: metaTimeSchema.optional(),
});

/** One `entry[].changes` item. Its `value` is parsed by the schema for its `field`. */
export const metaChangeSchema = z.looseObject({
  field: z.string().min(1),
  value: z.unknown(),
});

/** `value` of the `comments` and `live_comments` changes. */
export const metaCommentValueSchema = z.looseObject({
  id: metaIdSchema,
  text: z.string(),
  from: z.looseObject({
    id: metaIdSchema,
    username: z.string().nullish(),
  }),
  media: z
    .looseObject({
      id: metaIdSchema,
      media_product_type: z.string().nullish(),
    })
    .nullish(),
  parent_id: metaIdSchema.nullish(),
});

/** `value` of the `mentions` change: the media, and the comment when the mention is in one. */
export const metaMentionValueSchema = z.looseObject({
  media_id: metaIdSchema,
  comment_id: metaIdSchema.nullish(),
});

/** `value` of the `story_insights` change: metrics of a story, sent when the story expires. */
export const metaStoryInsightsValueSchema = z.looseObject({
  media_id: metaIdSchema,
  impressions: z.number().nullish(),
  reach: z.number().nullish(),
  taps_forward: z.number().nullish(),
  taps_back: z.number().nullish(),
  exits: z.number().nullish(),
  replies: z.number().nullish(),
});

/** Time fields a change `value` may carry, checked in this order. */
export const changeValueTimeFields = ['timestamp', 'time'] as const;

/** Maximum digits of an accepted `entry.id`. Instagram ids have 15 to 17 digits today. */
export const MAX_ENTRY_ID_DIGITS = 64;

/** `entry.id`, the account id: a digit string or a whole number, output as a digit string. */
export const metaEntryIdSchema = z
  .union([z.string().regex(new RegExp(`^\\d{1,${MAX_ENTRY_ID_DIGITS}}$`)), z.int().nonnegative()], {
    error: 'expected the account id as a string of digits or a whole number',
  })
  .transform((value) => String(value));

/**
 * One `entry[]` element. `splitDelivery` reads an entry member by member rather than with
 * this schema, so that a bad `time` or item list does not cost the entry's other items.
 */
export const metaEntrySchema = z.looseObject({
  id: metaEntryIdSchema,
  time: z.unknown().optional(),
  messaging: z.array(z.unknown()).nullish(),
  changes: z.array(z.unknown()).nullish(),
  standby: z.array(z.unknown()).nullish(),
});

/**
 * The webhook body: `object` is `instagram` for Instagram, `page` for Messenger. `splitDelivery`
 * also accepts a body whose `object` is missing or not a string, as long as `entry` is an array.
 */
export const metaWebhookEnvelopeSchema = z.looseObject({
  object: z.string().optional(),
  entry: z.array(z.unknown()),
});

export type MetaMessage = z.infer<typeof metaMessageSchema>;
export type MetaAttachment = z.infer<typeof metaAttachmentSchema>;
export type MetaReferral = z.infer<typeof metaReferralSchema>;
export type MetaMessagingItem = z.infer<typeof metaMessagingItemSchema>;
export type MetaChange = z.infer<typeof metaChangeSchema>;
export type MetaEntry = z.infer<typeof metaEntrySchema>;
export type MetaWebhookEnvelope = z.infer<typeof metaWebhookEnvelopeSchema>;
