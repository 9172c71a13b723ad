import { legacySignatureFor, signatureFor } from '@ig-router/testkit';
import { chunkedBody, encodeRequest, type SendRawOptions } from './raw-http.js';

// The bad-input corpus: hostile and odd webhook requests, each with the outcome the gateway and
// router must produce. Each case is a table entry, and families of cases (a wrong type in each
// field) are generated from the tables below.

/** Router output topic of a stored delivery, or `none` when nothing may be stored. */
export type OutputTopic = 'events' | 'unrouted' | 'dlq' | 'none';

export interface ExpectedOutcome {
  /** HTTP status, or 0 when the gateway closed the connection without a response. */
  status: number | number[];
  /** `none`: nothing in `ig.raw`. Otherwise the delivery is in `ig.raw` once and in this topic. */
  topic: OutputTopic;
  /** Number of records in `topic` from this delivery (events, unrouted entries, or 1 for dlq). */
  count?: number;
  /** `reason` of the unrouted or dead-letter records. */
  reason?: string;
  /** Gateway rejection code in the JSON error body, for rejected requests that have one. */
  code?: string;
}

/** Ids and secrets of the running gateway and router that the cases are built from. */
export interface CorpusContext {
  appSecret: string;
  /** An active account seeded in the database. */
  activeId: string;
  /** An account seeded as inactive. */
  inactiveId: string;
  /** An id that has no `ig_accounts` row. */
  unknownId: string;
  verifyToken: string;
  /** Body limit the gateway under test is configured with, in bytes. */
  bodyLimitBytes: number;
}

export interface CorpusRequest {
  bytes: Buffer;
  options?: SendRawOptions;
}

export interface CorpusCase {
  name: string;
  /** What the case probes, in the words of the corpus sections. */
  group: string;
  request(ctx: CorpusContext): CorpusRequest;
  expected: ExpectedOutcome | ((ctx: CorpusContext) => ExpectedOutcome);
  /** Slow cases run after the others, one at a time. */
  slow?: boolean;
}

/** A customer IGSID used as the sender of the messaging items. */
export const CUSTOMER_IGSID = '1234567890123456';

const SIGNATURE_HEADER = 'X-Hub-Signature-256';

type Signing =
  | 'sha256'
  | 'none'
  | 'sha1-only'
  | 'wrong-secret'
  | 'malformed'
  | 'uppercase-hex'
  | { headerLines: string[] };

/** Header lines of a webhook POST: host, content type and length, signature, `Connection: close`. */
function postHeaderLines(
  body: Buffer,
  ctx: CorpusContext,
  signing: Signing,
  extra: string[] = [],
): string[] {
  const lines = ['Host: 127.0.0.1'];
  if (!extra.some((line) => /^content-type:/i.test(line)))
    lines.push('Content-Type: application/json');
  if (typeof signing === 'object') {
    lines.push(...signing.headerLines);
  } else if (signing === 'sha256') {
    lines.push(`${SIGNATURE_HEADER}: ${signatureFor(body, ctx.appSecret)}`);
  } else if (signing === 'sha1-only') {
    lines.push(`X-Hub-Signature: ${legacySignatureFor(body, ctx.appSecret)}`);
  } else if (signing === 'wrong-secret') {
    lines.push(`${SIGNATURE_HEADER}: ${signatureFor(body, `${ctx.appSecret}-other`)}`);
  } else if (signing === 'malformed') {
    lines.push(`${SIGNATURE_HEADER}: sha256=not-hex-at-all`);
  } else if (signing === 'uppercase-hex') {
    const signature = signatureFor(body, ctx.appSecret);
    lines.push(`${SIGNATURE_HEADER}: sha256=${signature.slice('sha256='.length).toUpperCase()}`);
  }
  lines.push(...extra, 'Connection: close');
  return lines;
}

/** A POST of `body` to /webhook with a Content-Length and the given signing. */
export function post(
  body: Buffer | string,
  ctx: CorpusContext,
  signing: Signing = 'sha256',
  extra: string[] = [],
  options?: SendRawOptions,
): CorpusRequest {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const headerLines = [
    ...postHeaderLines(bytes, ctx, signing, extra),
    `Content-Length: ${bytes.length}`,
  ];
  return {
    bytes: encodeRequest({ method: 'POST', path: '/webhook', headerLines, body: bytes }),
    options,
  };
}

/** A messaging item from the customer to `recipientId`. */
export function messagingItem(recipientId: string, mid: string): Record<string, unknown> {
  return {
    sender: { id: CUSTOMER_IGSID },
    recipient: { id: recipientId },
    timestamp: 1733312345000,
    message: { mid, text: 'hello from the corpus' },
  };
}

/** A comment change item, as `entry[].changes[]` carries it. */
export function commentChange(mediaOwnerId: string, commentId: string): Record<string, unknown> {
  return {
    field: 'comments',
    value: {
      id: commentId,
      from: { id: CUSTOMER_IGSID, username: 'corpus_customer' },
      media: { id: '17900000000000001', media_product_type: 'FEED' },
      text: 'nice post',
      parent_id: mediaOwnerId,
    },
  };
}

/** An envelope with one entry for `accountId` holding `items` under `field`. */
export function envelope(
  accountId: string,
  items: unknown[],
  field: 'messaging' | 'changes' | 'standby' = 'messaging',
): Record<string, unknown> {
  return { object: 'instagram', entry: [{ id: accountId, time: 1733312345678, [field]: items }] };
}

function json(value: unknown): string {
  return JSON.stringify(value);
}

/** Sets the value at `path` (keys and indexes) in a deep copy of `value`. */
function withValueAt(value: unknown, path: Array<string | number>, replacement: unknown): unknown {
  const copy = structuredClone(value);
  let cursor = copy as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) cursor = cursor[key] as Record<string | number, unknown>;
  cursor[path[path.length - 1] as string | number] = replacement;
  return copy;
}

/** Wrong JSON types put in place of each field. */
const WRONG_TYPES: Array<[string, unknown]> = [
  ['null', null],
  ['boolean', true],
  ['integer', 12345],
  ['fraction', 1.5],
  ['string', 'not-the-right-type'],
  ['array', []],
  ['object', {}],
];

/** Fields of a messaging envelope, and the outcome when that field holds a wrong type. */
const MESSAGING_FIELDS: Array<{
  path: Array<string | number>;
  outcome: (typeName: string) => ExpectedOutcome;
}> = [
  // `object` is not checked: any body with an `entry` array is routed.
  { path: ['object'], outcome: () => ({ status: 200, topic: 'events', count: 1 }) },
  {
    path: ['entry'],
    outcome: (type) =>
      type === 'array'
        ? { status: 200, topic: 'dlq', reason: 'no_events' }
        : { status: 200, topic: 'dlq', reason: 'not_meta_envelope' },
  },
  {
    path: ['entry', 0],
    outcome: () => ({ status: 200, topic: 'unrouted', count: 1, reason: 'missing_account_id' }),
  },
  {
    path: ['entry', 0, 'id'],
    // A whole number is an id; 12345 has no account.
    outcome: (type) =>
      type === 'integer'
        ? { status: 200, topic: 'unrouted', count: 1, reason: 'unknown_account' }
        : { status: 200, topic: 'unrouted', count: 1, reason: 'missing_account_id' },
  },
  { path: ['entry', 0, 'time'], outcome: () => ({ status: 200, topic: 'events', count: 1 }) },
  {
    path: ['entry', 0, 'messaging'],
    // null means "no items"; [] has none either; any other type is one invalid_item event.
    outcome: (type) =>
      type === 'null' || type === 'array'
        ? { status: 200, topic: 'dlq', reason: 'no_events' }
        : { status: 200, topic: 'events', count: 1 },
  },
  ...[
    ['entry', 0, 'messaging', 0],
    ['entry', 0, 'messaging', 0, 'sender'],
    ['entry', 0, 'messaging', 0, 'sender', 'id'],
    ['entry', 0, 'messaging', 0, 'recipient'],
    ['entry', 0, 'messaging', 0, 'recipient', 'id'],
    ['entry', 0, 'messaging', 0, 'timestamp'],
    ['entry', 0, 'messaging', 0, 'message'],
    ['entry', 0, 'messaging', 0, 'message', 'mid'],
    ['entry', 0, 'messaging', 0, 'message', 'text'],
    ['entry', 0, 'messaging', 0, 'message', 'attachments'],
    ['entry', 0, 'messaging', 0, 'message', 'is_echo'],
    ['entry', 0, 'messaging', 0, 'message', 'reply_to'],
    ['entry', 0, 'messaging', 0, 'reaction'],
    ['entry', 0, 'messaging', 0, 'read'],
    ['entry', 0, 'messaging', 0, 'postback'],
  ].map((path) => ({
    path,
    outcome: (): ExpectedOutcome => ({ status: 200, topic: 'events', count: 1 }),
  })),
];

/** Fields of a comment change, each of which yields one event whatever its type. */
const CHANGE_FIELDS: Array<Array<string | number>> = [
  ['entry', 0, 'changes', 0],
  ['entry', 0, 'changes', 0, 'field'],
  ['entry', 0, 'changes', 0, 'value'],
  ['entry', 0, 'changes', 0, 'value', 'id'],
  ['entry', 0, 'changes', 0, 'value', 'from'],
  ['entry', 0, 'changes', 0, 'value', 'from', 'id'],
  ['entry', 0, 'changes', 0, 'value', 'media'],
  ['entry', 0, 'changes', 0, 'value', 'text'],
];

function wrongTypeCases(): CorpusCase[] {
  const cases: CorpusCase[] = [];
  for (const field of MESSAGING_FIELDS) {
    for (const [typeName, replacement] of WRONG_TYPES) {
      cases.push({
        name: `wrong type: ${field.path.join('.')} = ${typeName}`,
        group: 'wrong types',
        request: (ctx) => {
          const base = envelope(ctx.activeId, [messagingItem(ctx.activeId, 'mid.wrong-type')]);
          return post(json(withValueAt(base, field.path, replacement)), ctx);
        },
        expected: field.outcome(typeName),
      });
    }
  }
  for (const path of CHANGE_FIELDS) {
    for (const [typeName, replacement] of WRONG_TYPES) {
      cases.push({
        name: `wrong type: ${path.join('.')} = ${typeName}`,
        group: 'wrong types',
        request: (ctx) => {
          const base = envelope(
            ctx.activeId,
            [commentChange(ctx.activeId, '17950000000000001')],
            'changes',
          );
          return post(json(withValueAt(base, path, replacement)), ctx);
        },
        expected: { status: 200, topic: 'events', count: 1 },
      });
    }
  }
  return cases;
}

const deadLetter = (reason: string): ExpectedOutcome => ({ status: 200, topic: 'dlq', reason });
const rejected = (status: number | number[], code?: string): ExpectedOutcome => ({
  status,
  topic: 'none',
  ...(code ? { code } : {}),
});

/** Nests `inner` in `depth` arrays. */
function nestedArrays(depth: number, inner = '0'): string {
  return `${'['.repeat(depth)}${inner}${']'.repeat(depth)}`;
}

function baseCases(): CorpusCase[] {
  return [
    // -- baseline ---------------------------------------------------------------------------
    {
      name: 'valid text message',
      group: 'baseline',
      request: (ctx) =>
        post(json(envelope(ctx.activeId, [messagingItem(ctx.activeId, 'mid.ok')])), ctx),
      expected: { status: 200, topic: 'events', count: 1 },
    },
    {
      name: 'valid message for an unknown account',
      group: 'baseline',
      request: (ctx) =>
        post(json(envelope(ctx.unknownId, [messagingItem(ctx.unknownId, 'mid.u')])), ctx),
      expected: { status: 200, topic: 'unrouted', count: 1, reason: 'unknown_account' },
    },
    {
      name: 'valid message for an inactive account',
      group: 'baseline',
      request: (ctx) =>
        post(json(envelope(ctx.inactiveId, [messagingItem(ctx.inactiveId, 'mid.i')])), ctx),
      expected: { status: 200, topic: 'unrouted', count: 1, reason: 'inactive_account' },
    },

    // -- invalid JSON with a valid signature -------------------------------------------------
    ...[
      ['truncated object', '{"object":"instagram","entry":['],
      ['trailing comma', '{"object":"instagram","entry":[],}'],
      ['single quotes', "{'object':'instagram','entry':[]}"],
      ['bare word', 'EVENT_RECEIVED'],
      ['NaN literal', '{"object":"instagram","entry":[{"id":NaN}]}'],
      ['two concatenated documents', '{"entry":[]}{"entry":[]}'],
      ['comment', '{"object":"instagram", /* c */ "entry":[]}'],
      ['unescaped control character', '{"object":"insta\u0001gram","entry":[]}'],
      ['whitespace only', '   \n\t  '],
    ].map(
      ([label, body]): CorpusCase => ({
        name: `invalid JSON, signed: ${label}`,
        group: 'invalid JSON',
        request: (ctx) => post(body as string, ctx),
        expected: deadLetter('invalid_json'),
      }),
    ),

    // -- nesting and size ----------------------------------------------------------------------
    {
      name: 'nesting of 100,000 arrays',
      group: 'deeply nested JSON',
      request: (ctx) => post(nestedArrays(100_000), ctx),
      expected: deadLetter('invalid_json'),
    },
    {
      name: 'nesting of 1,001 levels inside a message',
      group: 'deeply nested JSON',
      request: (ctx) => {
        const item = json(messagingItem(ctx.activeId, 'mid.deep')).replace(
          '"text":"hello from the corpus"',
          `"text":"x","deep":${nestedArrays(1_001)}`,
        );
        return post(
          `{"object":"instagram","entry":[{"id":"${ctx.activeId}","messaging":[${item}]}]}`,
          ctx,
        );
      },
      expected: deadLetter('invalid_json'),
    },
    {
      name: 'nesting of 900 levels inside a message',
      group: 'deeply nested JSON',
      request: (ctx) => {
        const item = json(messagingItem(ctx.activeId, 'mid.deep900')).replace(
          '"text":"hello from the corpus"',
          `"text":"x","deep":${nestedArrays(900)}`,
        );
        return post(
          `{"object":"instagram","entry":[{"id":"${ctx.activeId}","messaging":[${item}]}]}`,
          ctx,
        );
      },
      expected: { status: 200, topic: 'events', count: 1 },
    },
    {
      name: 'nesting of 50,000 objects',
      group: 'deeply nested JSON',
      request: (ctx) => post(`${'{"a":'.repeat(50_000)}0${'}'.repeat(50_000)}`, ctx),
      expected: deadLetter('invalid_json'),
    },
    {
      name: '2,000 messaging items in one entry',
      group: 'huge arrays',
      request: (ctx) =>
        post(
          json(
            envelope(
              ctx.activeId,
              Array.from({ length: 2_000 }, (_, i) => messagingItem(ctx.activeId, `mid.bulk.${i}`)),
            ),
          ),
          ctx,
        ),
      expected: { status: 200, topic: 'events', count: 2_000 },
    },
    {
      name: '1,000 entries for unknown accounts',
      group: 'huge arrays',
      request: (ctx) =>
        post(
          json({
            object: 'instagram',
            entry: Array.from({ length: 1_000 }, (_, i) => ({
              id: `9${String(i).padStart(16, '0')}`,
              time: 1733312345678,
              messaging: [messagingItem(ctx.unknownId, `mid.e.${i}`)],
            })),
          }),
          ctx,
        ),
      expected: { status: 200, topic: 'unrouted', count: 1_000, reason: 'unknown_account' },
    },
    {
      name: 'array of 100,000 numbers inside a message',
      group: 'huge arrays',
      request: (ctx) => {
        const item = {
          ...messagingItem(ctx.activeId, 'mid.numbers'),
          numbers: Array.from({ length: 100_000 }, (_, i) => i),
        };
        return post(json(envelope(ctx.activeId, [item])), ctx);
      },
      expected: { status: 200, topic: 'events', count: 1 },
    },
    {
      name: '2,000 null messaging items',
      group: 'null items',
      request: (ctx) => post(json(envelope(ctx.activeId, Array(2_000).fill(null))), ctx),
      expected: { status: 200, topic: 'events', count: 2_000 },
    },

    // -- envelope shape -------------------------------------------------------------------------
    {
      name: 'missing entry',
      group: 'missing entry',
      request: (ctx) => post('{"object":"instagram"}', ctx),
      expected: deadLetter('not_meta_envelope'),
    },
    {
      name: 'empty object',
      group: 'missing entry',
      request: (ctx) => post('{}', ctx),
      expected: deadLetter('not_meta_envelope'),
    },
    {
      name: 'entry is an object',
      group: 'entry not an array',
      request: (ctx) =>
        post(json({ object: 'instagram', entry: { id: ctx.activeId, messaging: [] } }), ctx),
      expected: deadLetter('not_meta_envelope'),
    },
    {
      name: 'entry is a JSON string of an array',
      group: 'entry not an array',
      request: (ctx) =>
        post(json({ object: 'instagram', entry: json([{ id: ctx.activeId }]) }), ctx),
      expected: deadLetter('not_meta_envelope'),
    },
    ...[
      ['array', '[{"object":"instagram","entry":[]}]'],
      ['null', 'null'],
      ['number', '42'],
      ['string', '"instagram"'],
      ['boolean', 'false'],
    ].map(
      ([label, body]): CorpusCase => ({
        name: `top-level ${label}`,
        group: 'entry not an array',
        request: (ctx) => post(body as string, ctx),
        expected: deadLetter('not_meta_envelope'),
      }),
    ),
    {
      name: 'empty entry array',
      group: 'missing entry',
      request: (ctx) => post('{"object":"instagram","entry":[]}', ctx),
      expected: deadLetter('no_events'),
    },
    {
      name: 'entry of one null',
      group: 'null items',
      request: (ctx) => post('{"object":"instagram","entry":[null]}', ctx),
      expected: { status: 200, topic: 'unrouted', count: 1, reason: 'missing_account_id' },
    },
    {
      name: 'entry of null, number, string and array',
      group: 'null items',
      request: (ctx) => post('{"object":"instagram","entry":[null,7,"x",[]]}', ctx),
      expected: { status: 200, topic: 'unrouted', count: 4, reason: 'missing_account_id' },
    },
    {
      name: 'messaging of one null',
      group: 'null items',
      request: (ctx) => post(json(envelope(ctx.activeId, [null])), ctx),
      expected: { status: 200, topic: 'events', count: 1 },
    },
    {
      name: 'changes of null and standby of null',
      group: 'null items',
      request: (ctx) =>
        post(
          json({
            object: 'instagram',
            entry: [{ id: ctx.activeId, changes: [null], standby: [null, null] }],
          }),
          ctx,
        ),
      expected: { status: 200, topic: 'events', count: 3 },
    },
    {
      name: 'entry with no item fields',
      group: 'null items',
      request: (ctx) => post(json({ object: 'instagram', entry: [{ id: ctx.activeId }] }), ctx),
      expected: deadLetter('no_events'),
    },
    ...['whatsapp_business_account', 'page', '', 'INSTAGRAM'].map(
      (object): CorpusCase => ({
        name: `unknown or other object ${JSON.stringify(object)}`,
        group: 'unknown object',
        request: (ctx) =>
          post(
            json({
              ...envelope(ctx.activeId, [messagingItem(ctx.activeId, `mid.o.${object}`)]),
              object,
            }),
            ctx,
          ),
        // `object` only picks the platform (page: messenger); routing does not depend on it.
        expected: { status: 200, topic: 'events', count: 1 },
      }),
    ),
    {
      name: 'object missing',
      group: 'unknown object',
      request: (ctx) =>
        post(
          json({
            entry: [
              { id: ctx.activeId, messaging: [messagingItem(ctx.activeId, 'mid.no-object')] },
            ],
          }),
          ctx,
        ),
      expected: { status: 200, topic: 'events', count: 1 },
    },

    // -- ids as numbers -------------------------------------------------------------------------
    {
      name: 'entry id as a 17-digit JSON number',
      group: 'numbers where ids are strings',
      request: (ctx) =>
        post(
          `{"object":"instagram","entry":[{"id":${ctx.activeId},"time":1733312345678,"messaging":[${json(
            messagingItem(ctx.activeId, 'mid.numeric-entry'),
          )}]}]}`,
          ctx,
        ),
      expected: { status: 200, topic: 'events', count: 1 },
    },
    {
      name: 'sender and recipient ids as JSON numbers',
      group: 'numbers where ids are strings',
      request: (ctx) =>
        post(
          `{"object":"instagram","entry":[{"id":"${ctx.activeId}","messaging":[{"sender":{"id":${CUSTOMER_IGSID}},"recipient":{"id":${ctx.activeId}},"timestamp":1733312345000,"message":{"mid":"mid.numeric-ids","text":"n"}}]}]}`,
          ctx,
        ),
      expected: { status: 200, topic: 'events', count: 1 },
    },
    {
      name: 'entry id as a negative number',
      group: 'numbers where ids are strings',
      request: (ctx) =>
        post(`{"object":"instagram","entry":[{"id":-${ctx.activeId},"messaging":[]}]}`, ctx),
      expected: { status: 200, topic: 'unrouted', count: 1, reason: 'missing_account_id' },
    },
    {
      name: 'entry id in exponent notation',
      group: 'numbers where ids are strings',
      request: (ctx) =>
        post('{"object":"instagram","entry":[{"id":1.7841400000000001e16,"messaging":[]}]}', ctx),
      // A number above 2^53 is not taken as an id, because its digits are not exact.
      expected: { status: 200, topic: 'unrouted', count: 1, reason: 'missing_account_id' },
    },
    {
      name: 'entry id with leading spaces in a string',
      group: 'numbers where ids are strings',
      request: (ctx) =>
        post(json(envelope(` ${ctx.activeId}`, [messagingItem(ctx.activeId, 'mid.space')])), ctx),
      expected: { status: 200, topic: 'unrouted', count: 1, reason: 'missing_account_id' },
    },

    // -- duplicated keys -------------------------------------------------------------------------
    {
      name: 'duplicated entry: the last one wins',
      group: 'duplicated keys',
      request: (ctx) =>
        post(
          `{"object":"instagram","entry":[{"id":"${ctx.unknownId}","messaging":[]}],"entry":[{"id":"${ctx.activeId}","messaging":[${json(
            messagingItem(ctx.activeId, 'mid.dup-entry'),
          )}]}]}`,
          ctx,
        ),
      expected: { status: 200, topic: 'events', count: 1 },
    },
    {
      name: 'duplicated entry id: the last one wins',
      group: 'duplicated keys',
      request: (ctx) =>
        post(
          `{"object":"instagram","entry":[{"id":"${ctx.activeId}","id":"${ctx.unknownId}","messaging":[${json(
            messagingItem(ctx.activeId, 'mid.dup-id'),
          )}]}]}`,
          ctx,
        ),
      expected: { status: 200, topic: 'unrouted', count: 1, reason: 'unknown_account' },
    },
    {
      name: 'duplicated messaging: the last one wins',
      group: 'duplicated keys',
      request: (ctx) =>
        post(
          `{"object":"instagram","entry":[{"id":"${ctx.activeId}","messaging":[${json(
            messagingItem(ctx.activeId, 'mid.dup-a'),
          )},${json(messagingItem(ctx.activeId, 'mid.dup-b'))}],"messaging":[${json(
            messagingItem(ctx.activeId, 'mid.dup-c'),
          )}]}]}`,
          ctx,
        ),
      expected: { status: 200, topic: 'events', count: 1 },
    },
    {
      name: '__proto__ keys',
      group: 'duplicated keys',
      request: (ctx) =>
        post(
          `{"object":"instagram","__proto__":{"entry":[]},"entry":[{"id":"${ctx.activeId}","__proto__":{"id":"1"},"messaging":[${json(
            messagingItem(ctx.activeId, 'mid.proto'),
          )}]}]}`,
          ctx,
        ),
      expected: { status: 200, topic: 'events', count: 1 },
    },

    // -- encodings -------------------------------------------------------------------------------
    {
      name: 'invalid UTF-8 byte 0xff in a string',
      group: 'invalid UTF-8',
      request: (ctx) =>
        post(
          Buffer.concat([
            Buffer.from(
              `{"object":"instagram","entry":[{"id":"${ctx.activeId}","messaging":[{"message":{"text":"`,
            ),
            Buffer.from([0xff, 0xfe]),
            Buffer.from('"}}]}]}'),
          ]),
          ctx,
        ),
      expected: deadLetter('invalid_json'),
    },
    {
      name: 'UTF-8 encoded surrogate',
      group: 'invalid UTF-8',
      request: (ctx) =>
        post(
          Buffer.concat([
            Buffer.from(
              `{"object":"instagram","entry":[{"id":"${ctx.activeId}","messaging":[{"message":{"text":"`,
            ),
            Buffer.from([0xed, 0xa0, 0x80]),
            Buffer.from('"}}]}]}'),
          ]),
          ctx,
        ),
      expected: deadLetter('invalid_json'),
    },
    {
      name: 'overlong UTF-8 encoding of a quote',
      group: 'invalid UTF-8',
      request: (ctx) =>
        post(
          Buffer.concat([
            Buffer.from(
              `{"object":"instagram","entry":[{"id":"${ctx.activeId}","messaging":[{"message":{"text":"`,
            ),
            Buffer.from([0xc0, 0xa2]),
            Buffer.from('"}}]}]}'),
          ]),
          ctx,
        ),
      expected: deadLetter('invalid_json'),
    },
    {
      name: 'UTF-16 body',
      group: 'invalid UTF-8',
      request: (ctx) => post(Buffer.from('{"object":"instagram","entry":[]}', 'utf16le'), ctx),
      expected: deadLetter('invalid_json'),
    },
    {
      name: 'escaped lone surrogate in text',
      group: 'invalid UTF-8',
      request: (ctx) =>
        post(
          `{"object":"instagram","entry":[{"id":"${ctx.activeId}","messaging":[{"sender":{"id":"${CUSTOMER_IGSID}"},"recipient":{"id":"${ctx.activeId}"},"timestamp":1733312345000,"message":{"mid":"mid.surrogate","text":"\\ud800 and \\u0000"}}]}]}`,
          ctx,
        ),
      expected: { status: 200, topic: 'events', count: 1 },
    },
    {
      name: 'UTF-8 byte order mark before the JSON',
      group: 'invalid UTF-8',
      request: (ctx) =>
        post(
          Buffer.concat([
            Buffer.from([0xef, 0xbb, 0xbf]),
            Buffer.from(json(envelope(ctx.activeId, [messagingItem(ctx.activeId, 'mid.bom')]))),
          ]),
          ctx,
        ),
      // The router's UTF-8 decoder drops a leading byte order mark, as the WHATWG decoder does.
      expected: { status: 200, topic: 'events', count: 1 },
    },

    // -- body limit ------------------------------------------------------------------------------
    {
      name: 'body one byte over the limit',
      group: 'body over the limit',
      request: (ctx) => post(Buffer.alloc(ctx.bodyLimitBytes + 1, 0x20), ctx),
      expected: rejected(413, 'BODY_TOO_LARGE'),
    },
    {
      name: 'Content-Length over the limit, body never sent',
      group: 'body over the limit',
      request: (ctx) => {
        const headerLines = [
          ...postHeaderLines(Buffer.from('{}'), ctx, 'sha256'),
          `Content-Length: ${ctx.bodyLimitBytes * 4}`,
        ];
        return {
          bytes: encodeRequest({ method: 'POST', path: '/webhook', headerLines }),
          options: { timeoutMs: 10_000 },
        };
      },
      expected: rejected(413, 'BODY_TOO_LARGE'),
    },
    {
      name: 'chunked body over the limit',
      group: 'body over the limit',
      request: (ctx) => {
        const body = Buffer.alloc(ctx.bodyLimitBytes + 100, 0x20);
        const headerLines = [...postHeaderLines(body, ctx, 'sha256'), 'Transfer-Encoding: chunked'];
        return {
          bytes: encodeRequest({
            method: 'POST',
            path: '/webhook',
            headerLines,
            body: chunkedBody(body, 64 * 1024),
          }),
        };
      },
      expected: rejected(413, 'BODY_TOO_LARGE'),
    },
    {
      name: 'chunked body within the limit',
      group: 'body over the limit',
      request: (ctx) => {
        const body = Buffer.from(
          json(envelope(ctx.activeId, [messagingItem(ctx.activeId, 'mid.chunked')])),
        );
        const headerLines = [...postHeaderLines(body, ctx, 'sha256'), 'Transfer-Encoding: chunked'];
        return {
          bytes: encodeRequest({
            method: 'POST',
            path: '/webhook',
            headerLines,
            body: chunkedBody(body, 7),
          }),
        };
      },
      expected: { status: 200, topic: 'events', count: 1 },
    },

    // -- signatures ------------------------------------------------------------------------------
    {
      name: 'signature missing',
      group: 'signature',
      request: (ctx) =>
        post(json(envelope(ctx.activeId, [messagingItem(ctx.activeId, 'mid.s1')])), ctx, 'none'),
      expected: rejected(403, 'SIGNATURE_MISSING'),
    },
    {
      name: 'signature malformed',
      group: 'signature',
      request: (ctx) =>
        post(
          json(envelope(ctx.activeId, [messagingItem(ctx.activeId, 'mid.s2')])),
          ctx,
          'malformed',
        ),
      expected: rejected(403, 'SIGNATURE_MALFORMED'),
    },
    {
      name: 'signature with another secret',
      group: 'signature',
      request: (ctx) =>
        post(
          json(envelope(ctx.activeId, [messagingItem(ctx.activeId, 'mid.s3')])),
          ctx,
          'wrong-secret',
        ),
      expected: rejected(403, 'SIGNATURE_MISMATCH'),
    },
    {
      name: 'SHA-1 signature only',
      group: 'signature',
      request: (ctx) =>
        post(
          json(envelope(ctx.activeId, [messagingItem(ctx.activeId, 'mid.s4')])),
          ctx,
          'sha1-only',
        ),
      expected: rejected(403, 'SIGNATURE_MISSING'),
    },
    {
      name: 'signature with uppercase hex',
      group: 'signature',
      request: (ctx) =>
        post(
          json(envelope(ctx.activeId, [messagingItem(ctx.activeId, 'mid.s5')])),
          ctx,
          'uppercase-hex',
        ),
      expected: { status: 200, topic: 'events', count: 1 },
    },
    {
      name: 'signature with an uppercase SHA256= prefix',
      group: 'signature',
      request: (ctx) => {
        const body = json(envelope(ctx.activeId, [messagingItem(ctx.activeId, 'mid.s6')]));
        const signature = signatureFor(body, ctx.appSecret).replace('sha256=', 'SHA256=');
        return post(body, ctx, { headerLines: [`${SIGNATURE_HEADER}: ${signature}`] });
      },
      expected: rejected(403, 'SIGNATURE_MALFORMED'),
    },
    {
      name: 'signature of the body without its last byte',
      group: 'signature',
      request: (ctx) => {
        const body = json(envelope(ctx.activeId, [messagingItem(ctx.activeId, 'mid.s7')]));
        const signature = signatureFor(body.slice(0, -1), ctx.appSecret);
        return post(body, ctx, { headerLines: [`${SIGNATURE_HEADER}: ${signature}`] });
      },
      expected: rejected(403, 'SIGNATURE_MISMATCH'),
    },
    {
      name: 'signature of an empty body',
      group: 'signature',
      request: (ctx) =>
        post('', ctx, { headerLines: [`${SIGNATURE_HEADER}: ${signatureFor('', ctx.appSecret)}`] }),
      expected: rejected(403, 'BODY_EMPTY'),
    },
    {
      name: 'signature with 63 hex digits',
      group: 'signature',
      request: (ctx) => {
        const body = json(envelope(ctx.activeId, [messagingItem(ctx.activeId, 'mid.s8')]));
        const signature = signatureFor(body, ctx.appSecret).slice(0, -1);
        return post(body, ctx, { headerLines: [`${SIGNATURE_HEADER}: ${signature}`] });
      },
      expected: rejected(403, 'SIGNATURE_MALFORMED'),
    },
    {
      name: 'signature header repeated, right then wrong',
      group: 'signature',
      request: (ctx) => {
        const body = json(envelope(ctx.activeId, [messagingItem(ctx.activeId, 'mid.s9')]));
        return post(body, ctx, {
          headerLines: [
            `${SIGNATURE_HEADER}: ${signatureFor(body, ctx.appSecret)}`,
            `${SIGNATURE_HEADER}: ${signatureFor(body, 'other')}`,
          ],
        });
      },
      expected: rejected(403, 'SIGNATURE_MALFORMED'),
    },
    {
      name: 'signature with surrounding spaces',
      group: 'signature',
      request: (ctx) => {
        const body = json(envelope(ctx.activeId, [messagingItem(ctx.activeId, 'mid.s10')]));
        // HTTP strips leading and trailing whitespace of a field value, so this is valid.
        return post(body, ctx, {
          headerLines: [`${SIGNATURE_HEADER}:    ${signatureFor(body, ctx.appSecret)}   `],
        });
      },
      expected: { status: 200, topic: 'events', count: 1 },
    },

    // -- header injection and framing ------------------------------------------------------------
    {
      name: 'bare LF inside the signature value',
      group: 'header injection',
      request: (ctx) => {
        const body = json(envelope(ctx.activeId, [messagingItem(ctx.activeId, 'mid.h1')]));
        return post(body, ctx, {
          headerLines: [`${SIGNATURE_HEADER}: ${signatureFor(body, ctx.appSecret)}\nIgr-App: evil`],
        });
      },
      expected: rejected(400),
    },
    {
      name: 'bare CR inside a header value',
      group: 'header injection',
      request: (ctx) => {
        const body = json(envelope(ctx.activeId, [messagingItem(ctx.activeId, 'mid.h2')]));
        return post(body, ctx, 'sha256', ['X-Note: a\rIgr-App: evil']);
      },
      expected: rejected(400),
    },
    {
      name: 'NUL inside a header value',
      group: 'header injection',
      request: (ctx) => {
        const body = json(envelope(ctx.activeId, [messagingItem(ctx.activeId, 'mid.h3')]));
        return post(body, ctx, 'sha256', ['X-Note: a\u0000b']);
      },
      expected: rejected(400),
    },
    {
      name: 'space before the colon of the signature header',
      group: 'header injection',
      request: (ctx) => {
        const body = json(envelope(ctx.activeId, [messagingItem(ctx.activeId, 'mid.h4')]));
        return post(body, ctx, {
          headerLines: [`${SIGNATURE_HEADER} : ${signatureFor(body, ctx.appSecret)}`],
        });
      },
      expected: rejected(400),
    },
    {
      name: 'signature folded over two lines',
      group: 'header injection',
      request: (ctx) => {
        const body = json(envelope(ctx.activeId, [messagingItem(ctx.activeId, 'mid.h5')]));
        const signature = signatureFor(body, ctx.appSecret);
        return post(body, ctx, {
          headerLines: [
            `${SIGNATURE_HEADER}: ${signature.slice(0, 20)}`,
            ` ${signature.slice(20)}`,
          ],
        });
      },
      expected: rejected(400),
    },
    {
      name: 'two different Content-Length headers',
      group: 'header injection',
      request: (ctx) => {
        const body = Buffer.from(
          json(envelope(ctx.activeId, [messagingItem(ctx.activeId, 'mid.h6')])),
        );
        const headerLines = [
          ...postHeaderLines(body, ctx, 'sha256'),
          `Content-Length: ${body.length}`,
          `Content-Length: ${body.length - 10}`,
        ];
        return { bytes: encodeRequest({ method: 'POST', path: '/webhook', headerLines, body }) };
      },
      expected: rejected(400),
    },
    {
      name: 'Content-Length and Transfer-Encoding together',
      group: 'header injection',
      request: (ctx) => {
        const body = Buffer.from(
          json(envelope(ctx.activeId, [messagingItem(ctx.activeId, 'mid.h7')])),
        );
        const framed = chunkedBody(body);
        const headerLines = [
          ...postHeaderLines(body, ctx, 'sha256'),
          `Content-Length: ${framed.length}`,
          'Transfer-Encoding: chunked',
        ];
        return {
          bytes: encodeRequest({ method: 'POST', path: '/webhook', headerLines, body: framed }),
        };
      },
      expected: rejected(400),
    },
    {
      name: 'smuggled second request after the body',
      group: 'header injection',
      request: (ctx) => {
        const body = Buffer.from(
          json(envelope(ctx.activeId, [messagingItem(ctx.activeId, 'mid.h8')])),
        );
        const smuggled = Buffer.from(
          `POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n${SIGNATURE_HEADER}: ${signatureFor('[]', ctx.appSecret)}\r\nConnection: close\r\n\r\n{}`,
        );
        const headerLines = [
          'Host: 127.0.0.1',
          'Content-Type: application/json',
          `${SIGNATURE_HEADER}: ${signatureFor(body, ctx.appSecret)}`,
          `Content-Length: ${body.length}`,
        ];
        // No `Connection: close`: the gateway reads the extra bytes as a second request, whose
        // signature is for another body, so only the first delivery may be stored.
        return {
          bytes: encodeRequest({
            method: 'POST',
            path: '/webhook',
            headerLines,
            body: Buffer.concat([body, smuggled]),
          }),
          options: { timeoutMs: 5_000 },
        };
      },
      expected: { status: 200, topic: 'events', count: 1 },
    },
    {
      name: 'client Igr-App and X-Request-Id headers are not stored',
      group: 'header injection',
      request: (ctx) => {
        const body = json(envelope(ctx.activeId, [messagingItem(ctx.activeId, 'mid.h9')]));
        return post(body, ctx, 'sha256', [
          'Igr-App: evil',
          'Igr-Request-Id: forged-request-id',
          'X-Request-Id: forged-request-id',
          'Igr-Received-At: 1',
        ]);
      },
      expected: { status: 200, topic: 'events', count: 1 },
    },
    {
      name: 'header block of 80 KiB',
      group: 'header injection',
      request: (ctx) => {
        const body = json(envelope(ctx.activeId, [messagingItem(ctx.activeId, 'mid.h10')]));
        return post(body, ctx, 'sha256', [`X-Padding: ${'a'.repeat(80 * 1024)}`]);
      },
      expected: rejected(431),
    },
    ...[
      ['wrong verify token', (ctx: CorpusContext) => `${ctx.verifyToken}x`, 'ok', 403],
      ['right verify token', (ctx: CorpusContext) => ctx.verifyToken, 'ok', 200],
      [
        'challenge with an encoded CRLF and header',
        (ctx: CorpusContext) => ctx.verifyToken,
        '%0d%0aSet-Cookie:%20evil=1',
        200,
      ],
    ].map(
      ([label, token, challenge, status]): CorpusCase => ({
        name: `handshake: ${label as string}`,
        group: 'header injection',
        request: (ctx) => ({
          bytes: encodeRequest({
            method: 'GET',
            path: `/webhook?hub.mode=subscribe&hub.verify_token=${encodeURIComponent(
              (token as (ctx: CorpusContext) => string)(ctx),
            )}&hub.challenge=${challenge as string}`,
            headerLines: ['Host: 127.0.0.1', 'Connection: close'],
          }),
        }),
        expected: rejected(status as number),
      }),
    ),
    {
      name: 'CRLF encoded in the app path',
      group: 'header injection',
      request: (ctx) => {
        const body = Buffer.from('{}');
        const headerLines = [
          ...postHeaderLines(body, ctx, 'sha256'),
          `Content-Length: ${body.length}`,
        ];
        return {
          bytes: encodeRequest({
            method: 'POST',
            path: '/webhook/%0d%0aSet-Cookie:x',
            headerLines,
            body,
          }),
        };
      },
      expected: rejected(404, 'APP_NOT_FOUND'),
    },
    {
      name: 'content type text/plain',
      group: 'header injection',
      request: (ctx) => {
        const body = json(envelope(ctx.activeId, [messagingItem(ctx.activeId, 'mid.h11')]));
        return post(body, ctx, 'sha256', ['Content-Type: text/plain']);
      },
      expected: { status: 200, topic: 'events', count: 1 },
    },

    // -- slow and abandoned bodies ---------------------------------------------------------------
    {
      name: 'abandoned body: half sent, then closed',
      group: 'slow-loris',
      request: (ctx) => {
        const request = post(
          json(envelope(ctx.activeId, [messagingItem(ctx.activeId, 'mid.l1')])),
          ctx,
        );
        return {
          bytes: request.bytes,
          options: {
            stopAfterBytes: request.bytes.length - 40,
            closeAfterWrite: true,
            timeoutMs: 5_000,
          },
        };
      },
      expected: rejected([0, 400]),
    },
    {
      name: 'slow body: 4 bytes every 250 ms',
      group: 'slow-loris',
      slow: true,
      request: (ctx) => {
        const request = post(
          json(envelope(ctx.activeId, [messagingItem(ctx.activeId, 'mid.l2')])),
          ctx,
        );
        const headEnd = request.bytes.indexOf('\r\n\r\n') + 4;
        return {
          bytes: request.bytes,
          // The headers go at once. The body would take about 12 s at this pace.
          options: {
            pieceBytes: 4,
            pieceIntervalMs: 250,
            firstPieceBytes: headEnd,
            timeoutMs: 30_000,
          },
        };
      },
      expected: rejected(408),
    },
    {
      name: 'slow headers: one header line every 250 ms',
      group: 'slow-loris',
      slow: true,
      request: (ctx) => {
        const request = post(
          json(envelope(ctx.activeId, [messagingItem(ctx.activeId, 'mid.l3')])),
          ctx,
          'sha256',
          Array.from({ length: 40 }, (_, i) => `X-Slow-${i}: ${i}`),
        );
        return {
          bytes: request.bytes,
          options: { pieceBytes: 14, pieceIntervalMs: 250, timeoutMs: 30_000 },
        };
      },
      expected: rejected(408),
    },
  ];
}

/** Every case of the corpus. */
export function corpusCases(): CorpusCase[] {
  return [...baseCases(), ...wrongTypeCases()];
}
