import {
  dlqRecordSchema,
  igEventV1Schema,
  type RawRecordSource,
  splitDelivery,
  unroutedRecordSchema,
} from '@ig-router/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AccountCache } from '../../services/router/src/account-cache.js';
import { type RoutedOutput, routeRecords } from '../../services/router/src/route.js';

// Property-based tests of the router's routing step (splitDelivery, then routeRecords with an
// in-memory account table): for any webhook body, valid or broken, routing never throws and
// every record ends in exactly one place. That is one `ig.dlq` record for the whole record, or
// for each entry either one `ig.events.unrouted` record or one `ig.events` record per item.

/** Fixed seed, so a failure reproduces. fast-check prints it with the counterexample. */
const SEED = Number(process.env.IGR_PROPERTY_SEED ?? 20_261_204);
const NUM_RUNS = 300;

const ACTIVE_ID = '17841400000000001';
const INACTIVE_ID = '17841400000000002';
const UNKNOWN_ID = '17841400000000003';

interface TestAccount {
  ig_business_id: string;
  client_id: string;
  account_name: string;
  active: boolean;
}

const ACCOUNTS = new Map<string, TestAccount>([
  [
    ACTIVE_ID,
    {
      ig_business_id: ACTIVE_ID,
      client_id: '00000000-0000-4000-8000-000000000001',
      account_name: 'active_shop',
      active: true,
    },
  ],
  [
    INACTIVE_ID,
    {
      ig_business_id: INACTIVE_ID,
      client_id: '00000000-0000-4000-8000-000000000002',
      account_name: 'dormant_shop',
      active: false,
    },
  ],
]);

/** The account lookup of AccountCache, served from the fixed table above. */
const accounts = {
  async lookup(ids: Iterable<string>) {
    const found = new Map<string, TestAccount | null>();
    for (const id of ids) found.set(id, ACCOUNTS.get(id) ?? null);
    return found;
  },
} as unknown as AccountCache;

// -- arbitraries ---------------------------------------------------------------------------------

const anyJson = fc.jsonValue({ maxDepth: 3 });

/** Account and user ids: the known accounts, ids as numbers, and values of the wrong type. */
const idValue = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(ACTIVE_ID, INACTIVE_ID, UNKNOWN_ID) },
  { weight: 1, arbitrary: fc.constantFrom(12345, 0, -1, 1.5) },
  { weight: 1, arbitrary: fc.stringMatching(/^\d{1,20}$/) },
  { weight: 1, arbitrary: anyJson },
);

const userRef = fc.oneof(
  { weight: 3, arbitrary: fc.record({ id: idValue }) },
  { weight: 1, arbitrary: anyJson },
);

const timestamp = fc.oneof(
  fc.integer({ min: 0, max: 4_000_000_000_000 }),
  fc.integer({ min: 0, max: 4_000_000_000 }),
  fc.double(),
  fc.string(),
  fc.constant(null),
);

const message = fc.record(
  {
    mid: fc.oneof(fc.string(), anyJson),
    text: fc.oneof(fc.string(), fc.string({ unit: 'binary' }), anyJson),
    is_echo: fc.oneof(fc.boolean(), anyJson),
    is_deleted: fc.oneof(fc.boolean(), anyJson),
    attachments: fc.oneof(
      fc.array(fc.record({ type: fc.string(), payload: anyJson }, { requiredKeys: [] })),
      anyJson,
    ),
    reply_to: anyJson,
    quick_reply: anyJson,
  },
  { requiredKeys: [] },
);

const messagingItem = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record(
      {
        sender: userRef,
        recipient: userRef,
        timestamp,
        message,
        reaction: fc.oneof(
          fc.record({ mid: fc.string(), action: fc.constantFrom('react', 'unreact', 'x') }),
          anyJson,
        ),
        read: fc.oneof(fc.record({ mid: fc.string() }), anyJson),
        postback: fc.oneof(fc.record({ title: fc.string(), payload: fc.string() }), anyJson),
        referral: anyJson,
        optin: anyJson,
        pass_thread_control: anyJson,
        message_edit: anyJson,
        extra: anyJson,
      },
      { requiredKeys: [] },
    ),
  },
  { weight: 1, arbitrary: anyJson },
);

const changeItem = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record(
      {
        field: fc.oneof(
          fc.constantFrom('comments', 'live_comments', 'mentions', 'story_insights', 'messages'),
          anyJson,
        ),
        value: fc.oneof(
          fc.record(
            {
              id: idValue,
              from: userRef,
              media: anyJson,
              text: fc.oneof(fc.string(), anyJson),
              media_id: idValue,
              comment_id: idValue,
            },
            { requiredKeys: [] },
          ),
          anyJson,
        ),
      },
      { requiredKeys: [] },
    ),
  },
  { weight: 1, arbitrary: anyJson },
);

/** Generates an item list: null, an array of items, or a value that is not an array. */
function itemList<T>(item: fc.Arbitrary<T>) {
  return fc.oneof(
    { weight: 4, arbitrary: fc.array(item, { maxLength: 4 }) },
    { weight: 1, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: anyJson },
  );
}

const entry = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record(
      {
        id: idValue,
        time: timestamp,
        messaging: itemList(messagingItem),
        changes: itemList(changeItem),
        standby: itemList(messagingItem),
        extra: anyJson,
      },
      { requiredKeys: [] },
    ),
  },
  { weight: 1, arbitrary: anyJson },
);

const envelopeValue = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record(
      {
        object: fc.oneof(fc.constantFrom('instagram', 'page'), anyJson),
        entry: fc.oneof(
          { weight: 5, arbitrary: fc.array(entry, { maxLength: 4 }) },
          { weight: 1, arbitrary: anyJson },
        ),
      },
      { requiredKeys: ['entry'] },
    ),
  },
  { weight: 1, arbitrary: anyJson },
);

/** Ways to break the bytes of a serialized envelope. */
type Damage =
  | { kind: 'none' }
  | { kind: 'truncate'; at: number }
  | { kind: 'byte'; at: number; value: number };

const damage: fc.Arbitrary<Damage> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ kind: 'none' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('byte' as const),
      at: fc.nat(),
      value: fc.integer({ min: 0, max: 255 }),
    }),
  },
);

function damaged(text: string, change: Damage): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  if (change.kind === 'none' || bytes.length === 0) return bytes;
  const at = change.at % bytes.length;
  if (change.kind === 'truncate') return bytes.subarray(0, at);
  const copy = Buffer.from(bytes);
  copy[at] = change.value;
  return copy;
}

/** Serializes an envelope, with ids sometimes written as bare 17-digit JSON numbers. */
function serialize(value: unknown, numericIds: boolean): string {
  const text = JSON.stringify(value) ?? 'null';
  return numericIds ? text.replace(/"(\d{17})"/g, '$1') : text;
}

const body = fc
  .tuple(envelopeValue, fc.boolean(), damage)
  .map(([value, numericIds, change]) => damaged(serialize(value, numericIds), change));

// -- checks --------------------------------------------------------------------------------------

function sourceOf(offset: number): RawRecordSource {
  return {
    topic: 'ig.raw',
    partition: 0,
    offset: String(offset),
    receivedAt: new Date(1_733_312_345_678),
  };
}

function outputOffset(output: RoutedOutput): string {
  const value = JSON.parse(String(output.message.value)) as { source: { offset: string } };
  return value.source.offset;
}

/** Checks the outputs of one record against an independent split of its body. */
function checkRecord(bodyBytes: Buffer, offset: number, outputs: RoutedOutput[]): void {
  expect(outputs.length).toBeGreaterThan(0);
  const dlq = outputs.filter((output) => output.topic === 'dlq');
  for (const output of outputs) {
    const value = JSON.parse(String(output.message.value));
    if (output.topic === 'events') expect(igEventV1Schema.safeParse(value).error).toBeUndefined();
    if (output.topic === 'unrouted') unroutedRecordSchema.parse(value);
    if (output.topic === 'dlq') dlqRecordSchema.parse(value);
  }
  if (dlq.length > 0) {
    // A dead letter stands for the whole record, so nothing else may come from it.
    expect(outputs).toHaveLength(1);
    const record = dlqRecordSchema.parse(JSON.parse(String(dlq[0]?.message.value)));
    expect(Buffer.from(record.raw_base64 ?? '', 'base64').equals(bodyBytes)).toBe(true);
    return;
  }

  const split = splitDelivery(bodyBytes, sourceOf(offset));
  if (split.kind !== 'envelope') throw new Error(`an invalid body was not dead-lettered`);
  for (const entry of split.entries) {
    const account = entry.entryId === null ? undefined : ACCOUNTS.get(entry.entryId);
    const routed = account?.active === true;
    const unrouted = outputs.filter(
      (output) =>
        output.topic === 'unrouted' &&
        unroutedRecordSchema.parse(JSON.parse(String(output.message.value))).source.entry_index ===
          entry.entryIndex,
    );
    const events = outputs.filter(
      (output) =>
        output.topic === 'events' &&
        igEventV1Schema.parse(JSON.parse(String(output.message.value))).source.entry_index ===
          entry.entryIndex,
    );
    expect(unrouted).toHaveLength(routed ? 0 : 1);
    expect(events).toHaveLength(routed ? entry.events.length : 0);
    for (const event of events) expect(event.message.key).toBe(entry.entryId);
  }
}

describe('router routing properties', () => {
  it('never throws and puts every record in exactly one place', async () => {
    const outputsByTopic = { events: 0, unrouted: 0, dlq: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(body, { minLength: 1, maxLength: 3 }), async (bodies) => {
        const records = bodies.map((value, offset) => ({
          source: sourceOf(offset),
          key: null,
          value,
          timestamp: '1733312345678',
          headers: {},
        }));

        const chunk = await routeRecords(records, accounts);
        for (const output of chunk.outputs) outputsByTopic[output.topic] += 1;

        for (const [offset, value] of bodies.entries()) {
          const outputs = chunk.outputs.filter((output) => outputOffset(output) === String(offset));
          checkRecord(value, offset, outputs);
        }
        expect(chunk.deadLetters).toHaveLength(
          chunk.outputs.filter((output) => output.topic === 'dlq').length,
        );
      }),
      { seed: SEED, numRuns: NUM_RUNS, verbose: 1 },
    );

    // The generator must reach every topic, or the property checks less than it claims.
    expect(outputsByTopic.events).toBeGreaterThan(0);
    expect(outputsByTopic.unrouted).toBeGreaterThan(0);
    expect(outputsByTopic.dlq).toBeGreaterThan(0);
    process.stdout.write(
      `[properties] ${NUM_RUNS} runs, outputs: ${JSON.stringify(outputsByTopic)}\n`,
    );
  });

  it('gives the same outputs when a record is routed again', async () => {
    await fc.assert(
      fc.asyncProperty(body, async (value) => {
        const record = {
          source: sourceOf(7),
          key: null,
          value,
          timestamp: '1733312345678',
          headers: {},
        };

        const first = await routeRecords([record], accounts);
        const second = await routeRecords([record], accounts);

        expect(second.outputs).toEqual(first.outputs);
      }),
      { seed: SEED, numRuns: 100 },
    );
  });

  it('splitDelivery never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const split = splitDelivery(bytes, sourceOf(0));
        expect(['invalid', 'envelope']).toContain(split.kind);
      }),
      { seed: SEED, numRuns: 500 },
    );
  });
});
