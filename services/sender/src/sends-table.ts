import type { Database, SendCommand, SendResult, SendState } from '@ig-router/core';
import { type Kysely, sql } from 'kysely';
import { Batcher } from './batcher.js';

/**
 * The `sends` table is the source of truth for each command's state. Every change is a
 * compare-and-set on the expected state, so two processes that both hold a command (a sender
 * that lost its partition and the one that took it over) never both send it or both report it.
 *
 * Column use:
 * - `state`: `in_flight` is written before the Graph call and `pending` between retries, so a
 *   row found `in_flight` after a restart means the request may have reached Meta.
 * - `result`: the parked command while `parked`, the result record once final.
 * - `completed_at`: set when the result record was acknowledged by Kafka; a final row without
 *   it has a result still to publish.
 */

export const finalStates = ['sent', 'failed', 'expired', 'ambiguous'] as const;
export type FinalState = (typeof finalStates)[number];

export function isFinalState(state: SendState): state is FinalState {
  return (finalStates as readonly string[]).includes(state);
}

/** The parked command as stored in `sends.result` while the row is `parked`. */
export interface ParkedRecord {
  parked: {
    command: SendCommand;
    /** `ig.outbound` partition and offset of the original record, which order resumption. */
    partition: number;
    offset: string;
    parked_at: string;
  };
}

export interface SendKey {
  command_id: string;
  ig_business_id: string;
  client_id: string;
}

export interface SendRow extends SendKey {
  recipient_id: string;
  state: SendState;
  attempts: number;
  result: unknown;
  completed_at: Date | null;
}

const rowColumns = [
  'command_id',
  'ig_business_id',
  'client_id',
  'recipient_id',
  'state',
  'attempts',
  'result',
  'completed_at',
] as const;

export interface SendFields {
  attempts?: number;
  result?: unknown;
  message_id?: string | null;
  error?: unknown;
  recipient_id?: string;
}

interface InsertItem {
  key: SendKey & { recipient_id: string };
  state: SendState;
  fields: SendFields;
}

interface TransitionItem {
  key: SendKey;
  from: SendState;
  to: SendState;
  fields: SendFields;
}

/**
 * Writes `sends` rows in batches: inserts and state transitions submitted at the same time
 * share one statement each, so the database sees a few statements per batch of commands
 * instead of two per command.
 */
export class SendsStore {
  private readonly inserts: Batcher<InsertItem, boolean>;
  private readonly transitions: Batcher<TransitionItem, { attempts: number } | undefined>;

  constructor(
    readonly db: Kysely<Database>,
    maxConcurrentFlushes = 1,
  ) {
    this.inserts = new Batcher((items) => this.flushInserts(items), 500, maxConcurrentFlushes);
    this.transitions = new Batcher(
      (items) => this.flushTransitions(items),
      500,
      maxConcurrentFlushes,
    );
  }

  /**
   * Inserts a row in `state` unless one exists for the command. Returns true when inserted,
   * false when the command is already known.
   */
  insert(
    key: SendKey & { recipient_id: string },
    state: SendState,
    fields: SendFields = {},
  ): Promise<boolean> {
    return this.inserts.submit({ key, state, fields });
  }

  /**
   * Moves a row from `from` to `to`, setting the given fields and leaving the others. Returns
   * the row's attempts after the change, or undefined when the row was in another state
   * (another process changed it first).
   */
  transition(
    key: SendKey,
    from: SendState,
    to: SendState,
    fields: SendFields = {},
  ): Promise<{ attempts: number } | undefined> {
    return this.transitions.submit({ key, from, to, fields });
  }

  private async flushInserts(items: InsertItem[]): Promise<boolean[]> {
    const rows = await this.db
      .insertInto('sends')
      .values(
        items.map(({ key, state, fields }) => ({
          command_id: key.command_id,
          ig_business_id: key.ig_business_id,
          client_id: key.client_id,
          recipient_id: key.recipient_id,
          state,
          attempts: fields.attempts ?? 0,
          message_id: fields.message_id ?? null,
          error: jsonOrNull(fields.error),
          result: jsonOrNull(fields.result),
        })),
      )
      .onConflict((conflict) => conflict.column('command_id').doNothing())
      .returning('command_id')
      .execute();
    const inserted = new Set(rows.map((row) => row.command_id));
    // Only the first of two items for one command can have inserted the row.
    return items.map((item) => inserted.delete(item.key.command_id));
  }

  private async flushTransitions(
    items: TransitionItem[],
  ): Promise<Array<{ attempts: number } | undefined>> {
    const column = <T>(pick: (item: TransitionItem) => T) => items.map(pick);
    const { rows } = await sql<{ command_id: string; attempts: number }>`
      update sends as s set
        state = v.to_state,
        attempts = coalesce(v.attempts, s.attempts),
        result = case when v.set_result then v.result::jsonb else s.result end,
        message_id = case when v.set_message_id then v.message_id else s.message_id end,
        error = case when v.set_error then v.error::jsonb else s.error end,
        recipient_id = coalesce(v.recipient_id, s.recipient_id),
        updated_at = now()
      from unnest(
        ${column((i) => i.key.command_id)}::text[],
        ${column((i) => i.key.ig_business_id)}::text[],
        ${column((i) => i.key.client_id)}::uuid[],
        ${column((i) => i.from)}::text[],
        ${column((i) => i.to)}::text[],
        ${column((i) => i.fields.attempts ?? null)}::int[],
        ${column((i) => i.fields.result !== undefined)}::bool[],
        ${column((i) => jsonOrNull(i.fields.result))}::text[],
        ${column((i) => i.fields.message_id !== undefined)}::bool[],
        ${column((i) => i.fields.message_id ?? null)}::text[],
        ${column((i) => i.fields.error !== undefined)}::bool[],
        ${column((i) => jsonOrNull(i.fields.error))}::text[],
        ${column((i) => i.fields.recipient_id ?? null)}::text[]
      ) as v(
        command_id, ig_business_id, client_id, from_state, to_state, attempts,
        set_result, result, set_message_id, message_id, set_error, error, recipient_id
      )
      where s.command_id = v.command_id
        and s.ig_business_id = v.ig_business_id
        and s.client_id = v.client_id
        and s.state = v.from_state
      returning s.command_id, s.attempts
    `.execute(this.db);
    const attemptsById = new Map(rows.map((row) => [row.command_id, row.attempts]));
    return items.map((item) => {
      const attempts = attemptsById.get(item.key.command_id);
      attemptsById.delete(item.key.command_id);
      return attempts === undefined ? undefined : { attempts };
    });
  }
}

export async function findSend(db: Kysely<Database>, key: SendKey): Promise<SendRow | undefined> {
  const row = await db
    .selectFrom('sends')
    .select(rowColumns)
    .where('command_id', '=', key.command_id)
    .where('ig_business_id', '=', key.ig_business_id)
    .where('client_id', '=', key.client_id)
    .executeTakeFirst();
  return row as SendRow | undefined;
}

/** Records that the results of these commands are in `ig.outbound.results`. */
export async function markResultsPublished(
  db: Kysely<Database>,
  commandIds: string[],
): Promise<void> {
  if (commandIds.length === 0) return;
  await db
    .updateTable('sends')
    .set({ completed_at: sql<Date>`now()` })
    .where('command_id', 'in', commandIds)
    .where('completed_at', 'is', null)
    .execute();
}

/** Returns up to `limit` parked commands of the account, in their original `ig.outbound` order. */
export async function listParked(
  db: Kysely<Database>,
  igBusinessId: string,
  clientId: string,
  limit: number,
): Promise<Array<SendKey & { result: ParkedRecord }>> {
  const rows = await db
    .selectFrom('sends')
    .select(['command_id', 'ig_business_id', 'client_id', 'result'])
    .where('ig_business_id', '=', igBusinessId)
    .where('client_id', '=', clientId)
    .where('state', '=', 'parked')
    .where('completed_at', 'is', null)
    .orderBy(sql`(result->'parked'->>'partition')::int`)
    .orderBy(sql`(result->'parked'->>'offset')::bigint`)
    .limit(limit)
    .execute();
  return rows as Array<SendKey & { result: ParkedRecord }>;
}

export async function countParked(
  db: Kysely<Database>,
  igBusinessId: string,
  clientId: string,
): Promise<number> {
  const row = await db
    .selectFrom('sends')
    .select(sql<string>`count(*)`.as('count'))
    .where('ig_business_id', '=', igBusinessId)
    .where('client_id', '=', clientId)
    .where('state', '=', 'parked')
    .where('completed_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/**
 * Returns parked commands of the given accounts whose `not_after` has passed, or, without
 * `not_after`, whose `created_at` is older than `maxAgeMs`.
 */
export async function listExpiredParked(
  db: Kysely<Database>,
  accounts: Array<{ ig_business_id: string; client_id: string }>,
  maxAgeMs: number,
): Promise<Array<SendKey & { result: ParkedRecord }>> {
  if (accounts.length === 0) return [];
  const rows = await db
    .selectFrom('sends')
    .select(['command_id', 'ig_business_id', 'client_id', 'result'])
    .where((eb) =>
      eb.or(
        accounts.map((account) =>
          eb.and([
            eb('client_id', '=', account.client_id),
            eb('ig_business_id', '=', account.ig_business_id),
          ]),
        ),
      ),
    )
    .where('state', '=', 'parked')
    .where('completed_at', 'is', null)
    .where(
      sql<boolean>`coalesce(
        (result->'parked'->'command'->>'not_after')::timestamptz,
        (result->'parked'->'command'->>'created_at')::timestamptz + ${`${maxAgeMs} milliseconds`}::interval
      ) <= now()`,
    )
    .limit(1_000)
    .execute();
  return rows as Array<SendKey & { result: ParkedRecord }>;
}

/**
 * Returns the parked rows and the final rows whose result is still to publish, of every
 * account; restart recovery filters them by partition.
 */
export async function listUnfinished(
  db: Kysely<Database>,
): Promise<Array<SendRow & { updated_at: Date }>> {
  const rows = await db
    .selectFrom('sends')
    .select([...rowColumns, 'updated_at'])
    .where('completed_at', 'is', null)
    .where('state', 'not in', ['in_flight', 'pending'])
    .execute();
  return rows as Array<SendRow & { updated_at: Date }>;
}

export function storedResult(row: SendRow): SendResult | undefined {
  const result = row.result as { status?: unknown } | null;
  return result && typeof result === 'object' && typeof result.status === 'string'
    ? (result as SendResult)
    : undefined;
}

function jsonOrNull(value: unknown): string | null {
  return value === undefined || value === null ? null : JSON.stringify(value);
}
