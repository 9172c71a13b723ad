import type { Database, IgEventV1, MessageDirection, SendResult } from '@ig-router/core';
import { type Kysely, sql } from 'kysely';

// Writes of the PostgreSQL read model (igsids and messages). Every write is an upsert keyed by
// `event_id` or `command_id`, so applying the same record twice leaves the same rows. Every
// statement filters by client_id and ig_business_id.

/** Result of applying a record: `applied` wrote rows, and `ignored` means the type has no rows. */
export type ProjectionOutcome = 'applied' | 'ignored';

/** Types that open or extend the 24-hour messaging window: the customer sent a message. */
const windowOpeningTypes = new Set<string>(['message.received', 'message.unsupported']);

/** Types of items sent by the customer that add the IGSID without moving the window. */
const customerActivityTypes = new Set<string>([
  'message.reaction',
  'message.read',
  'postback',
  'referral',
  'optin',
  'handover',
]);

interface Activity {
  type: string;
  payload: unknown;
}

/**
 * Applies an `ig.events` event. A `standby` event is applied as the item it wraps, because the
 * conversation happened even while another app held the thread.
 */
export async function projectEvent(
  db: Kysely<Database>,
  event: IgEventV1,
): Promise<ProjectionOutcome> {
  const activity: Activity =
    event.type === 'standby'
      ? { type: event.payload.inner_type, payload: event.payload.inner_payload }
      : { type: event.type, payload: event.payload };
  const occurredAt = new Date(event.occurred_at);

  if (windowOpeningTypes.has(activity.type) && event.sender_id !== null) {
    await upsertIgsid(db, event, event.sender_id, occurredAt, true);
    await insertMessage(db, {
      message_key: event.event_id,
      ig_business_id: event.ig_business_id,
      client_id: event.client_id,
      igsid: event.sender_id,
      direction: 'inbound',
      mid: midOf(activity.payload),
      text: textOf(activity.payload),
      event_type: activity.type,
      occurred_at: occurredAt,
    });
    return 'applied';
  }

  if (activity.type === 'message.echo' && event.recipient_id !== null) {
    await insertMessage(db, {
      message_key: event.event_id,
      ig_business_id: event.ig_business_id,
      client_id: event.client_id,
      igsid: event.recipient_id,
      direction: 'echo',
      mid: midOf(activity.payload),
      text: textOf(activity.payload),
      event_type: activity.type,
      occurred_at: occurredAt,
    });
    return 'applied';
  }

  if (activity.type === 'message.deleted' && event.sender_id !== null) {
    const mid = midOf(activity.payload);
    if (mid === null) return 'ignored';
    await markDeleted(db, event, event.sender_id, mid, occurredAt);
    return 'applied';
  }

  const fromCustomer = event.sender_id !== null && event.sender_id !== event.ig_business_id;
  if (customerActivityTypes.has(activity.type) && fromCustomer) {
    await upsertIgsid(db, event, event.sender_id as string, occurredAt, false);
    return 'applied';
  }

  return 'ignored';
}

/**
 * Applies an `ig.outbound.results` record: a sent command becomes an outbound message keyed by
 * its `command_id`. Results that were not sent have no row.
 */
export async function projectSendResult(
  db: Kysely<Database>,
  result: SendResult,
  clientId: string,
): Promise<ProjectionOutcome> {
  if (
    result.status !== 'sent' ||
    result.command_id === null ||
    result.ig_business_id === null ||
    result.recipient_id === null
  ) {
    return 'ignored';
  }
  await insertMessage(db, {
    message_key: result.command_id,
    ig_business_id: result.ig_business_id,
    client_id: clientId,
    igsid: result.recipient_id,
    direction: 'outbound',
    mid: result.message_id ?? null,
    text: null,
    event_type: 'send.sent',
    occurred_at: new Date(result.completed_at),
  });
  return 'applied';
}

/**
 * Inserts or updates the IGSID row. `first_seen_at` only moves back and `last_inbound_at` only
 * forward, so records applied out of order or twice give the same row.
 */
async function upsertIgsid(
  db: Kysely<Database>,
  event: IgEventV1,
  igsid: string,
  occurredAt: Date,
  inbound: boolean,
): Promise<void> {
  await sql`
    insert into igsids as i (ig_business_id, igsid, client_id, first_seen_at, last_inbound_at, last_event_id)
    values (${event.ig_business_id}, ${igsid}, ${event.client_id}, ${occurredAt},
            ${inbound ? occurredAt : null}, ${event.event_id})
    on conflict (ig_business_id, igsid) do update set
      first_seen_at = least(i.first_seen_at, excluded.first_seen_at),
      last_inbound_at = greatest(i.last_inbound_at, excluded.last_inbound_at),
      last_event_id = case
        when excluded.last_inbound_at > coalesce(i.last_inbound_at, '-infinity'::timestamptz)
          then excluded.last_event_id
        else i.last_event_id
      end,
      updated_at = now()
    where i.client_id = excluded.client_id and i.ig_business_id = excluded.ig_business_id
  `.execute(db);
}

interface MessageRow {
  message_key: string;
  ig_business_id: string;
  client_id: string;
  igsid: string;
  direction: MessageDirection;
  mid: string | null;
  text: string | null;
  event_type: string;
  occurred_at: Date;
}

/**
 * Inserts a message once per key. A message whose deletion was applied first (Meta does not
 * keep order) is inserted as deleted.
 */
async function insertMessage(db: Kysely<Database>, row: MessageRow): Promise<void> {
  await sql`
    insert into messages (message_key, ig_business_id, client_id, igsid, direction, mid, text,
                          event_type, occurred_at, deleted)
    values (${row.message_key}, ${row.ig_business_id}, ${row.client_id}, ${row.igsid},
            ${row.direction}, ${row.mid}, ${row.text}, ${row.event_type}, ${row.occurred_at},
            ${row.mid}::text is not null and exists (
              select 1 from messages d
              where d.ig_business_id = ${row.ig_business_id} and d.client_id = ${row.client_id}
                and d.mid = ${row.mid} and d.event_type = 'message.deleted'))
    on conflict (ig_business_id, message_key) do nothing
  `.execute(db);
}

/**
 * Sets `deleted` on every row with the `mid`. When no such row exists yet, inserts a deletion
 * row keyed by the event, which `insertMessage` reads when the message itself arrives later.
 */
async function markDeleted(
  db: Kysely<Database>,
  event: IgEventV1,
  igsid: string,
  mid: string,
  occurredAt: Date,
): Promise<void> {
  await sql`
    with updated as (
      update messages set deleted = true, updated_at = now()
      where ig_business_id = ${event.ig_business_id} and client_id = ${event.client_id}
        and mid = ${mid} and not deleted
      returning 1
    )
    insert into messages (message_key, ig_business_id, client_id, igsid, direction, mid, text,
                          event_type, occurred_at, deleted)
    select ${event.event_id}::text, ${event.ig_business_id}::text, ${event.client_id}::uuid,
           ${igsid}::text, 'inbound', ${mid}::text, null, 'message.deleted',
           ${occurredAt}::timestamptz, true
    where not exists (select 1 from updated)
      and not exists (
        select 1 from messages m
        where m.ig_business_id = ${event.ig_business_id} and m.client_id = ${event.client_id}
          and m.mid = ${mid})
    on conflict (ig_business_id, message_key) do nothing
  `.execute(db);
}

function midOf(payload: unknown): string | null {
  const mid = (payload as { mid?: unknown }).mid;
  return typeof mid === 'string' ? mid : null;
}

function textOf(payload: unknown): string | null {
  const text = (payload as { text?: unknown }).text;
  return typeof text === 'string' ? text : null;
}
