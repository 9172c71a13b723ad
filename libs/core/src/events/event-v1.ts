import { z } from 'zod';

// The normalized event written to `ig.events`. This schema is the contract for downstream
// consumers; docs/schemas/ig.event.v1.json is generated from it. Within v1, fields may be added
// but never removed, renamed or retyped.

export const EVENT_SCHEMA_V1 = 'ig.event.v1';

export const eventTypes = [
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
] as const;

export type EventType = (typeof eventTypes)[number];

/** Types an item under `messaging` can have, and so the `inner_type` of a `standby` event. */
export const messagingEventTypes = [
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
  'unknown',
] as const satisfies readonly EventType[];

export type MessagingEventType = (typeof messagingEventTypes)[number];

export const platforms = ['instagram', 'messenger'] as const;
export type Platform = (typeof platforms)[number];

export const itemFields = ['messaging', 'changes', 'standby'] as const;
export type ItemField = (typeof itemFields)[number];

const digitString = (what: string) => {
  const error = `expected ${what} as a string of digits`;
  return z.string({ error }).regex(/^\d+$/, { error });
};

const idString = z.string().min(1);

const isoUtc = z.iso.datetime({
  error: 'expected an ISO-8601 UTC time such as 2024-05-01T12:00:00.000Z',
});

export const attachmentPayloadSchema = z
  .object({
    type: z.string().min(1).describe('Attachment type as Meta sent it; new types pass through.'),
    url: z
      .string()
      .optional()
      .describe('Media URL from payload.url. Meta expires these URLs; store a reference only.'),
    title: z.string().optional(),
    payload: z.unknown().describe("The attachment's original payload, or null when it had none."),
  })
  .meta({ id: 'AttachmentPayload' });

export const replyToPayloadSchema = z
  .object({
    mid: z.string().optional().describe('The mid of the message replied to.'),
    story: z
      .object({ id: z.string().optional(), url: z.string().optional() })
      .optional()
      .describe('The story replied to.'),
  })
  .meta({ id: 'ReplyToPayload' });

export const referralPayloadSchema = z
  .looseObject({
    ref: z.string().optional(),
    source: z.string().optional(),
    type: z.string().optional(),
    ad_id: z.string().optional(),
  })
  .meta({
    id: 'ReferralPayload',
    description: 'Referral as Meta sent it, without null members. ad_id is a string.',
  });

/** Payload of `message.received` and `message.echo`. */
export const messagePayloadSchema = z
  .object({
    mid: idString,
    text: z.string().nullable(),
    attachments: z.array(attachmentPayloadSchema),
    reply_to: replyToPayloadSchema.optional(),
    quick_reply_payload: z.string().optional(),
    referral: referralPayloadSchema.optional(),
  })
  .meta({ id: 'MessagePayload' });

export const messageRefPayloadSchema = z
  .object({ mid: idString })
  .meta({ id: 'MessageRefPayload' });

export const messageEditedPayloadSchema = z
  .object({
    mid: idString,
    text: z.string().nullable(),
    num_edit: z.int().nonnegative().optional(),
  })
  .meta({ id: 'MessageEditedPayload' });

export const reactionPayloadSchema = z
  .object({
    mid: idString,
    action: z.enum(['react', 'unreact']),
    reaction: z.string().optional().describe('Reaction name, for example love.'),
    emoji: z.string().optional(),
  })
  .meta({ id: 'ReactionPayload' });

export const readPayloadSchema = z
  .object({
    mid: z.string().optional().describe('The mid read (Instagram).'),
    watermark: z
      .number()
      .optional()
      .describe('Messages sent before this epoch-milliseconds time were read (Messenger).'),
  })
  .meta({ id: 'ReadPayload' });

export const postbackPayloadSchema = z
  .object({
    mid: z.string().optional(),
    title: z.string().optional(),
    payload: z.string().optional(),
    referral: referralPayloadSchema.optional(),
  })
  .meta({ id: 'PostbackPayload' });

export const optinPayloadSchema = z
  .looseObject({
    ref: z.string().optional(),
    user_ref: z.string().optional(),
    type: z.string().optional(),
    payload: z.string().optional(),
  })
  .meta({
    id: 'OptinPayload',
    description: 'The optin object as Meta sent it, without null members.',
  });

export const handoverPayloadSchema = z
  .object({
    action: z.enum(['pass_thread_control', 'take_thread_control', 'request_thread_control']),
    new_owner_app_id: z.string().optional(),
    previous_owner_app_id: z.string().optional(),
    requested_owner_app_id: z.string().optional(),
    metadata: z.string().optional(),
  })
  .meta({ id: 'HandoverPayload' });

export const commentPayloadSchema = z
  .object({
    comment_id: idString,
    media_id: z.string().optional(),
    media_product_type: z.string().optional(),
    text: z.string(),
    from: z.object({ id: idString, username: z.string().optional() }),
    parent_id: z.string().optional().describe('Set on replies: the comment replied to.'),
  })
  .meta({ id: 'CommentPayload' });

export const mentionPayloadSchema = z
  .object({
    media_id: idString,
    comment_id: z.string().optional().describe('Set when the mention is in a comment.'),
  })
  .meta({ id: 'MentionPayload' });

export const storyInsightsPayloadSchema = z
  .object({
    media_id: idString,
    impressions: z.number().optional(),
    reach: z.number().optional(),
    taps_forward: z.number().optional(),
    taps_back: z.number().optional(),
    exits: z.number().optional(),
    replies: z.number().optional(),
  })
  .meta({ id: 'StoryInsightsPayload' });

export const unknownReasons = [
  'invalid_item',
  'unrecognized_item',
  'unrecognized_field',
  'normalization_failed',
] as const;

export type UnknownReason = (typeof unknownReasons)[number];

export const unknownPayloadSchema = z
  .object({
    reason: z
      .enum(unknownReasons)
      .describe(
        'invalid_item: a field has the wrong type or is missing. unrecognized_item: a messaging ' +
          'or standby item of a kind this version does not know. unrecognized_field: a change ' +
          'whose field this version does not know. normalization_failed: an internal error.',
      ),
    error: z.string().optional().describe('Which fields failed and why.'),
  })
  .meta({ id: 'UnknownPayload' });

/** Payload schema of every type except `standby`, whose payload wraps one of these. */
export const payloadSchemas = {
  'message.received': messagePayloadSchema,
  'message.echo': messagePayloadSchema,
  'message.deleted': messageRefPayloadSchema,
  'message.edited': messageEditedPayloadSchema,
  'message.unsupported': messageRefPayloadSchema,
  'message.reaction': reactionPayloadSchema,
  'message.read': readPayloadSchema,
  postback: postbackPayloadSchema,
  referral: referralPayloadSchema,
  optin: optinPayloadSchema,
  handover: handoverPayloadSchema,
  comment: commentPayloadSchema,
  live_comment: commentPayloadSchema,
  mention: mentionPayloadSchema,
  story_insights: storyInsightsPayloadSchema,
  unknown: unknownPayloadSchema,
} as const;

function standbyVariant<T extends MessagingEventType>(innerType: T) {
  return z.object({
    inner_type: z.literal(innerType),
    inner_payload: payloadSchemas[innerType],
  });
}

export const standbyPayloadSchema = z
  .discriminatedUnion('inner_type', [
    standbyVariant('message.received'),
    standbyVariant('message.echo'),
    standbyVariant('message.deleted'),
    standbyVariant('message.edited'),
    standbyVariant('message.unsupported'),
    standbyVariant('message.reaction'),
    standbyVariant('message.read'),
    standbyVariant('postback'),
    standbyVariant('referral'),
    standbyVariant('optin'),
    standbyVariant('handover'),
    standbyVariant('unknown'),
  ])
  .meta({
    id: 'StandbyPayload',
    description:
      'An item received while another app holds the thread: the type and payload it would have ' +
      'under messaging.',
  });

export type PayloadByType = {
  [K in Exclude<EventType, 'standby'>]: z.infer<(typeof payloadSchemas)[K]>;
} & { standby: z.infer<typeof standbyPayloadSchema> };

export const eventSourceSchema = z
  .object({
    topic: z.string().min(1),
    partition: z.int().nonnegative(),
    offset: digitString('the offset'),
    entry_index: z.int().nonnegative(),
    item_index: z.int().nonnegative(),
    field: z.enum(itemFields),
  })
  .meta({
    id: 'EventSource',
    description: 'The ig.raw record and the position of the item in its body.',
  });

function eventVariant<T extends EventType, P extends z.ZodType>(type: T, payload: P) {
  return z.object({
    schema: z.literal(EVENT_SCHEMA_V1),
    event_id: z
      .uuid()
      .describe('UUID derived from the item only: the same Meta item always gets the same id.'),
    type: z.literal(type),
    platform: z.enum(platforms),
    ig_business_id: digitString('ig_business_id'),
    client_id: z.string().min(1),
    account_name: z.string(),
    sender_id: idString
      .nullable()
      .describe('IGSID or PSID of the sender, or the comment author; null when the item has none.'),
    recipient_id: idString.nullable().describe('null when the item has none, as on changes.'),
    occurred_at: isoUtc.describe("Meta's time of the item."),
    received_at: isoUtc.describe('Time the gateway received the delivery.'),
    payload,
    raw: z
      .unknown()
      .describe(
        'The messaging, changes or standby item as received (ids over 15 digits as strings).',
      ),
    source: eventSourceSchema,
  });
}

export const igEventV1Schema = z.discriminatedUnion('type', [
  eventVariant('message.received', messagePayloadSchema),
  eventVariant('message.echo', messagePayloadSchema),
  eventVariant('message.deleted', messageRefPayloadSchema),
  eventVariant('message.edited', messageEditedPayloadSchema),
  eventVariant('message.unsupported', messageRefPayloadSchema),
  eventVariant('message.reaction', reactionPayloadSchema),
  eventVariant('message.read', readPayloadSchema),
  eventVariant('postback', postbackPayloadSchema),
  eventVariant('referral', referralPayloadSchema),
  eventVariant('optin', optinPayloadSchema),
  eventVariant('handover', handoverPayloadSchema),
  eventVariant('standby', standbyPayloadSchema),
  eventVariant('comment', commentPayloadSchema),
  eventVariant('live_comment', commentPayloadSchema),
  eventVariant('mention', mentionPayloadSchema),
  eventVariant('story_insights', storyInsightsPayloadSchema),
  eventVariant('unknown', unknownPayloadSchema),
]);

export type IgEventV1 = z.infer<typeof igEventV1Schema>;
export type EventSource = z.infer<typeof eventSourceSchema>;
