import { z } from 'zod';
import { describeIssues, type FieldIssue, formatIssues } from '../events/zod-issues.js';

// Send commands (`ig.outbound`) and their results (`ig.outbound.results`). Commands come from
// client apps, so the schema rejects unknown fields and each error message states the rule.
// docs/schemas/send-command.json and send-result.json are generated from these schemas.

/** Maximum size of `message.text` in UTF-8 bytes, as the Instagram Send API accepts. */
export const MAX_TEXT_BYTES = 1000;

export const senderActions = ['typing_on', 'typing_off', 'mark_seen', 'react', 'unreact'] as const;
export type SenderAction = (typeof senderActions)[number];

export const messagingTypes = ['RESPONSE', 'UPDATE', 'MESSAGE_TAG'] as const;

const digitString = (what: string) => {
  const error = `expected ${what} as a string of digits`;
  return z.string({ error }).regex(/^\d{1,64}$/, { error });
};

const commandIdSchema = z
  .string({ error: 'missing; expected a string' })
  .regex(/^[A-Za-z0-9._:-]{1,128}$/, {
    error: 'expected 1 to 128 characters from A-Z, a-z, 0-9 and . _ : -',
  })
  .describe(
    'Idempotency key chosen by the client: a command with a known command_id is not sent again.',
  );

const isoTime = z.iso.datetime({
  offset: true,
  error: 'expected an ISO-8601 time with a zone, such as 2024-05-01T12:00:00Z',
});

const textSchema = z
  .string()
  .min(1, { error: 'must not be empty' })
  .max(MAX_TEXT_BYTES)
  .refine((text) => Buffer.byteLength(text, 'utf8') <= MAX_TEXT_BYTES, {
    error: (issue) =>
      `is ${Buffer.byteLength(String(issue.input), 'utf8')} UTF-8 bytes; the maximum is ${MAX_TEXT_BYTES}`,
  })
  .describe(`At most ${MAX_TEXT_BYTES} UTF-8 bytes.`);

const attachmentSchema = z.strictObject({
  type: z
    .string()
    .min(1)
    .describe('Send API attachment type, for example image, video, audio, file or MEDIA_SHARE.'),
  payload: z
    .record(z.string(), z.unknown())
    .optional()
    .describe('Passed to the Send API unchanged, for example {url} or {attachment_id}.'),
});

// Objects with optional members and an exactly-one check, rather than unions, so an error
// names the failing field (message.text) instead of "no union member matched".
const messageSchema = z
  .strictObject({ text: textSchema.optional(), attachment: attachmentSchema.optional() })
  .superRefine((message, ctx) => {
    if ((message.text === undefined) === (message.attachment === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'expected exactly one of text or attachment' });
    }
  })
  .meta({
    description: 'Exactly one of text or attachment.',
    oneOf: [{ required: ['text'] }, { required: ['attachment'] }],
  });

const recipientSchema = z
  .strictObject({
    id: digitString('recipient.id (the IGSID)').optional(),
    comment_id: digitString('recipient.comment_id').optional(),
  })
  .superRefine((recipient, ctx) => {
    if ((recipient.id === undefined) === (recipient.comment_id === undefined)) {
      ctx.addIssue({
        code: 'custom',
        message:
          'expected exactly one of id (an IGSID) or comment_id (a private reply to a comment)',
      });
    }
  })
  .meta({
    description: '{id}: the IGSID. {comment_id}: a private reply, once per comment within 7 days.',
    oneOf: [{ required: ['id'] }, { required: ['comment_id'] }],
  });

// Cross-field checks also run when a field failed, so one response lists every problem. They
// compare fields with undefined and literals only, which is safe on unvalidated values.
const crossFieldChecksOnAnyObject = {
  when: (payload: { value: unknown }) =>
    typeof payload.value === 'object' && payload.value !== null && !Array.isArray(payload.value),
};

/** Builds a JSON Schema `if`/`then`/`else` rule. */
function jsonSchemaCondition(condition: object, consequence: object, alternative?: object): object {
  return {
    if: condition,
    // biome-ignore lint/suspicious/noThenProperty: `then` is the JSON Schema keyword here.
    then: consequence,
    ...(alternative === undefined ? {} : { else: alternative }),
  };
}

export const sendCommandSchema = z
  .strictObject({
    command_id: commandIdSchema,
    ig_business_id: digitString('ig_business_id'),
    recipient: recipientSchema,
    message: messageSchema.optional(),
    sender_action: z.enum(senderActions).optional(),
    payload: z
      .strictObject({
        message_id: z.string().min(1),
        reaction: z.string().min(1).optional().describe('Reaction name; Instagram accepts love.'),
      })
      .optional()
      .describe('For react and unreact: the mid of the message to react to.'),
    reply_to: z.strictObject({ mid: z.string().min(1) }).optional(),
    messaging_type: z
      .enum(messagingTypes)
      .optional()
      .describe('Meta treats a missing value as RESPONSE.'),
    tag: z
      .literal('HUMAN_AGENT')
      .optional()
      .describe(
        'Required with MESSAGE_TAG: lets a human agent reply up to 7 days after the last user message.',
      ),
    not_after: isoTime.optional().describe('Deadline: the command expires if not sent by then.'),
    created_at: isoTime,
  })
  .superRefine((command, ctx) => {
    const hasMessage = command.message !== undefined;
    const hasAction = command.sender_action !== undefined;
    if (hasMessage === hasAction) {
      ctx.addIssue({
        code: 'custom',
        path: hasMessage ? ['sender_action'] : [],
        message: hasMessage
          ? 'set either message or sender_action, not both'
          : 'missing: set exactly one of message or sender_action',
      });
    }

    const needsMessageId = command.sender_action === 'react' || command.sender_action === 'unreact';
    if (needsMessageId && command.payload === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['payload', 'message_id'],
        message: `missing; ${command.sender_action} needs the mid of the message in payload.message_id`,
      });
    }
    if (!needsMessageId && command.payload !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['payload'],
        message: 'only allowed with sender_action react or unreact',
      });
    }

    if (command.reply_to !== undefined && !hasMessage) {
      ctx.addIssue({ code: 'custom', path: ['reply_to'], message: 'only allowed with message' });
    }

    if (command.messaging_type === 'MESSAGE_TAG' && command.tag === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['tag'],
        message: 'missing; messaging_type MESSAGE_TAG needs tag HUMAN_AGENT',
      });
    }
    if (command.tag !== undefined && command.messaging_type !== 'MESSAGE_TAG') {
      ctx.addIssue({
        code: 'custom',
        path: ['messaging_type'],
        message: 'must be MESSAGE_TAG when tag is set',
      });
    }
  }, crossFieldChecksOnAnyObject)
  // JSON Schema output only: zod checks these rules in the refinement above. The UTF-8 byte
  // limit of message.text has no JSON Schema form; maxLength bounds it in characters.
  .meta({
    oneOf: [{ required: ['message'] }, { required: ['sender_action'] }],
    allOf: [
      jsonSchemaCondition(
        {
          properties: { sender_action: { enum: ['react', 'unreact'] } },
          required: ['sender_action'],
        },
        { required: ['payload'] },
        { not: { required: ['payload'] } },
      ),
      jsonSchemaCondition(
        { properties: { messaging_type: { const: 'MESSAGE_TAG' } }, required: ['messaging_type'] },
        { required: ['tag'] },
        { not: { required: ['tag'] } },
      ),
      jsonSchemaCondition({ required: ['reply_to'] }, { required: ['message'] }),
    ],
  });

export type SendCommand = z.infer<typeof sendCommandSchema>;

export const INVALID_COMMAND = 'INVALID_COMMAND';

/** Error of a result whose command failed validation: each field issue with its path. */
export const commandValidationErrorSchema = z.object({
  code: z.literal(INVALID_COMMAND),
  message: z.string().describe('All issues on one line, for logs.'),
  issues: z.array(z.object({ path: z.string(), message: z.string() })),
});

/** Error returned by the Graph API, with the sender's classification of it. */
export const graphSendErrorSchema = z.object({
  code: z.int(),
  subcode: z.int().nullable(),
  type: z.string().nullable(),
  message: z.string(),
  classification: z
    .string()
    .min(1)
    .describe(
      'How the sender treated the error, for example transient, rate_limited, auth, permission, ' +
        'policy, recipient, window or unknown.',
    ),
});

export const sendStatuses = ['sent', 'failed', 'expired', 'ambiguous'] as const;
export type SendStatus = (typeof sendStatuses)[number];

export const sendResultSchema = z
  .object({
    command_id: z
      .string()
      .nullable()
      .describe('null only for a command rejected because its command_id was unreadable.'),
    ig_business_id: z
      .string()
      .nullable()
      .describe('null only for a command rejected without a readable one.'),
    recipient_id: z
      .string()
      .nullable()
      .describe(
        "The Send API's recipient_id when sent, else the command's recipient id or comment_id.",
      ),
    status: z
      .enum(sendStatuses)
      .describe(
        'sent: Meta accepted it. failed: not sent. expired: not_after passed first. ambiguous: ' +
          'the request may have reached Meta without an answer, and it is not sent again.',
      ),
    message_id: z.string().min(1).optional().describe('Graph message_id; set when status is sent.'),
    error: z.union([graphSendErrorSchema, commandValidationErrorSchema]).nullable(),
    attempts: z.int().nonnegative().describe('Send API requests made for this command.'),
    created_at: isoTime.describe('created_at of the command.'),
    completed_at: isoTime,
  })
  .superRefine((result, ctx) => {
    if (result.status === 'sent' && result.message_id === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['message_id'],
        message: 'missing; required when status is sent',
      });
    }
    if (result.status !== 'sent' && result.message_id !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['message_id'],
        message: 'only allowed when status is sent',
      });
    }
    if (result.status === 'failed' && result.error === null) {
      ctx.addIssue({
        code: 'custom',
        path: ['error'],
        message: 'missing; required when status is failed',
      });
    }
  });

export type SendResult = z.infer<typeof sendResultSchema>;
export type CommandValidationError = z.infer<typeof commandValidationErrorSchema>;

export type SendCommandParseResult =
  | { ok: true; command: SendCommand }
  | { ok: false; error: CommandValidationError };

/**
 * Validates a send command. On failure returns the `INVALID_COMMAND` error that goes into the
 * command's result, with one issue per field, such as `message.text: is 1204 UTF-8 bytes; ...`.
 */
export function parseSendCommand(input: unknown): SendCommandParseResult {
  const result = sendCommandSchema.safeParse(input);
  if (result.success) return { ok: true, command: result.data };

  const issues: FieldIssue[] = describeIssues(result.error, 'command');
  return {
    ok: false,
    error: { code: INVALID_COMMAND, message: `invalid command: ${formatIssues(issues)}`, issues },
  };
}
