import {
  createIdempotentProducer,
  type Database,
  type RawRecord,
  type RoutingAccount,
  readRawRecord,
  type TopicKey,
  TopicNames,
  type UnroutedReason,
  type UnroutedRecord,
} from '@ig-router/core';
import type { Kysely } from 'kysely';
import { flagOption, stringOption } from '../args.js';
import { type CommandGroup, jsonOption } from '../command.js';
import type { CommandContext } from '../context.js';
import { CliError, CliErrorCodes, ExitCodes, UsageError } from '../errors.js';
import { printJson, printLine, printNote } from '../io.js';
import { type ReadProgress, rangesForTimes, readPartitionRanges } from '../kafka-read.js';
import { ProgressReporter } from '../progress.js';
import { accountOption, timeRangeOptions } from '../range-options.js';
import {
  entryIdsOf,
  parseUnroutedMessage,
  type ReroutedEvent,
  routeRawRecords,
  routeUnroutedRecord,
  type StillUnrouted,
  splitRawRecords,
} from '../reroute-route.js';
import { collectEventIds, EventWriter } from '../reroute-writer.js';
import { findRoutingAccounts } from '../store.js';

/** Records routed per account lookup and per routing step. */
const CHUNK_RECORDS = 500;
/** Accounts listed per source in the summary; `--json` lists the same number. */
const MAX_LISTED_ACCOUNTS = 100;
/** Invalid `ig.events.unrouted` records logged one by one; the rest are only counted. */
const MAX_LOGGED_INVALID = 10;
/** Kafka topic names: 1 to 249 letters, digits, dots, underscores and hyphens. */
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

type Source = 'raw' | 'unrouted';

/** Entries that are still unroutable, counted per reason and per account. */
class UnroutedTally {
  readonly byReason: Record<UnroutedReason, number> = {
    unknown_account: 0,
    inactive_account: 0,
    missing_account_id: 0,
  };
  private readonly byAccount = new Map<string, { reason: UnroutedReason; entries: number }>();
  total = 0;

  add(entry: StillUnrouted): void {
    this.total += 1;
    this.byReason[entry.reason] += 1;
    if (entry.entryId === null) return;
    const listed = this.byAccount.get(entry.entryId);
    if (listed) listed.entries += 1;
    else this.byAccount.set(entry.entryId, { reason: entry.reason, entries: 1 });
  }

  /** Accounts with the most entries first, at most MAX_LISTED_ACCOUNTS. */
  accounts(): Array<{ ig_business_id: string; reason: UnroutedReason; entries: number }> {
    return [...this.byAccount.entries()]
      .map(([id, listed]) => ({ ig_business_id: id, ...listed }))
      .sort((a, b) => b.entries - a.entries || a.ig_business_id.localeCompare(b.ig_business_id))
      .slice(0, MAX_LISTED_ACCOUNTS);
  }
}

/** Routing accounts read once per run, so every chunk is routed with the same registry state. */
class RunAccounts {
  private readonly known = new Map<string, RoutingAccount | null>();

  constructor(private readonly db: Kysely<Database>) {}

  /** Returns the accounts of `ids` that have an `ig_accounts` row; the others are absent. */
  async resolve(ids: Iterable<string>): Promise<Map<string, RoutingAccount>> {
    const requested = [...new Set(ids)];
    const missing = requested.filter((id) => !this.known.has(id));
    if (missing.length > 0) {
      const rows = await findRoutingAccounts(this.db, missing);
      const byId = new Map(rows.map((row) => [row.ig_business_id, row]));
      for (const id of missing) this.known.set(id, byId.get(id) ?? null);
    }
    const found = new Map<string, RoutingAccount>();
    for (const id of requested) {
      const account = this.known.get(id);
      if (account) found.set(id, account);
    }
    return found;
  }
}

interface SourceCounts {
  topic: string;
  records_read: number;
  events_written: number;
  events_already_written: number;
  still_unrouted: UnroutedTally;
}

interface RunOptions {
  fromMs: number;
  toMs: number;
  skewMs: number;
  account: string | undefined;
  writer: EventWriter;
  accounts: RunAccounts;
  /** Label of the progress count: `events written`, or `events to write` with --dry-run. */
  progressLabel: string;
}

/**
 * Resolves `--target-topic`: ig.events by default, else the name as given (no TOPIC_PREFIX).
 * Other catalogue topics are rejected, because events written there would mix with records of
 * another schema.
 */
export function resolveTargetTopic(
  text: string | undefined,
  names: Record<TopicKey, string>,
): string {
  if (text === undefined) return names.events;
  for (const key of Object.keys(TopicNames) as TopicKey[]) {
    if (text !== TopicNames[key] && text !== names[key]) continue;
    if (key === 'events') return names.events;
    throw new UsageError(
      `--target-topic ${JSON.stringify(text)} is the ${TopicNames[key]} topic; rerouted events go to ig.events or to a topic of their own.`,
    );
  }
  if (!TOPIC_NAME.test(text)) {
    throw new UsageError(
      `--target-topic ${JSON.stringify(text)} is not a valid Kafka topic name; use 1 to 249 letters, digits, dots, underscores or hyphens.`,
    );
  }
  return text;
}

function parseOnly(text: string | undefined): Source | undefined {
  if (text === undefined || text === 'raw' || text === 'unrouted') return text;
  throw new UsageError(
    `--only ${JSON.stringify(text)} is invalid; expected raw or unrouted, or leave it out for both.`,
  );
}

async function countWrite(
  writer: EventWriter,
  events: ReroutedEvent[],
  counts: SourceCounts,
): Promise<void> {
  for (const rerouted of events) {
    if (await writer.add(rerouted)) counts.events_written += 1;
    else counts.events_already_written += 1;
  }
}

/** Routes the `ig.raw` records of the range again and writes the events of active accounts. */
async function rerouteRaw(
  ctx: CommandContext,
  rawTopic: string,
  options: RunOptions,
): Promise<{ counts: SourceCounts; deadLetters: number; complete: boolean }> {
  const { kafka } = ctx.kafka();
  const admin = await ctx.admin();
  const counts: SourceCounts = {
    topic: rawTopic,
    records_read: 0,
    events_written: 0,
    events_already_written: 0,
    still_unrouted: new UnroutedTally(),
  };
  let deadLetters = 0;
  let buffer: RawRecord[] = [];

  const routeBuffer = async () => {
    if (buffer.length === 0) return;
    const splits = splitRawRecords(buffer);
    buffer = [];
    const accountsById = await options.accounts.resolve(entryIdsOf(splits));
    const routing = routeRawRecords(splits, accountsById, options.account);
    await countWrite(options.writer, routing.events, counts);
    for (const entry of routing.stillUnrouted) counts.still_unrouted.add(entry);
    deadLetters += routing.deadLetters.length;
  };

  const ranges = await rangesForTimes(
    admin,
    rawTopic,
    options.fromMs - options.skewMs,
    options.toMs + options.skewMs,
  );
  const progress = new ProgressReporter(ctx.io, 'reroute ig.raw', 5_000, options.progressLabel);
  let lastProgress: ReadProgress = { done: 0n, total: 0n };
  const { complete } = await readPartitionRanges(kafka, rawTopic, ranges, {
    purpose: 'reroute-raw',
    signal: ctx.io.signal,
    onProgress: (state) => {
      lastProgress = state;
      progress.update(state, counts.events_written);
    },
    onRecord: async ({ partition, message }) => {
      const timestamp = Number(message.timestamp);
      if (timestamp < options.fromMs || timestamp >= options.toMs) return;
      counts.records_read += 1;
      buffer.push(readRawRecord(rawTopic, partition, message));
      if (buffer.length >= CHUNK_RECORDS) await routeBuffer();
    },
  });
  await routeBuffer();
  progress.finish(lastProgress, counts.events_written);
  return { counts, deadLetters, complete };
}

/**
 * Reads `ig.events.unrouted` in the range and writes the events of entries whose account is
 * now active, built from the stored entry. Entries already rerouted from `ig.raw` in this run,
 * or present in the target topic, are skipped by `event_id`.
 */
async function drainUnrouted(
  ctx: CommandContext,
  unroutedTopic: string,
  options: RunOptions,
): Promise<{ counts: SourceCounts; invalid: number; complete: boolean }> {
  const { kafka } = ctx.kafka();
  const admin = await ctx.admin();
  const counts: SourceCounts = {
    topic: unroutedTopic,
    records_read: 0,
    events_written: 0,
    events_already_written: 0,
    still_unrouted: new UnroutedTally(),
  };
  let invalid = 0;
  let buffer: Array<{ record: UnroutedRecord; timestamp: string }> = [];

  const routeBuffer = async () => {
    if (buffer.length === 0) return;
    const parsed = buffer;
    buffer = [];
    const ids = parsed.flatMap(({ record }) => (record.entry_id === null ? [] : [record.entry_id]));
    const accountsById = await options.accounts.resolve(ids);
    for (const entry of parsed) {
      const routed = routeUnroutedRecord(entry, accountsById);
      if ('events' in routed) await countWrite(options.writer, routed.events, counts);
      else counts.still_unrouted.add(routed);
    }
  };

  const ranges = await rangesForTimes(
    admin,
    unroutedTopic,
    options.fromMs - options.skewMs,
    options.toMs + options.skewMs,
  );
  const progress = new ProgressReporter(
    ctx.io,
    'reroute ig.events.unrouted',
    5_000,
    options.progressLabel,
  );
  let lastProgress: ReadProgress = { done: 0n, total: 0n };
  const { complete } = await readPartitionRanges(kafka, unroutedTopic, ranges, {
    purpose: 'reroute-unrouted',
    signal: ctx.io.signal,
    onProgress: (state) => {
      lastProgress = state;
      progress.update(state, counts.events_written);
    },
    onRecord: async ({ partition, message }) => {
      const timestamp = Number(message.timestamp);
      if (timestamp < options.fromMs || timestamp >= options.toMs) return;
      if (options.account !== undefined && message.key?.toString('utf8') !== options.account) {
        return;
      }
      counts.records_read += 1;

      const parsed = parseUnroutedMessage(message);
      if (parsed.kind === 'invalid') {
        invalid += 1;
        if (invalid <= MAX_LOGGED_INVALID) {
          ctx
            .logger()
            .warn(
              { topic: unroutedTopic, partition, offset: message.offset, err: parsed.error },
              'ig.events.unrouted record is not a valid ig.unrouted.v1 value; skipping it',
            );
        }
        return;
      }
      buffer.push(parsed);
      if (buffer.length >= CHUNK_RECORDS) await routeBuffer();
    },
  });
  await routeBuffer();
  progress.finish(lastProgress, counts.events_written);
  return { counts, invalid, complete };
}

function describeCounts(counts: SourceCounts) {
  return {
    topic: counts.topic,
    records_read: counts.records_read,
    events_written: counts.events_written,
    events_already_written: counts.events_already_written,
    entries_still_unrouted: counts.still_unrouted.total,
    still_unrouted_by_reason: counts.still_unrouted.byReason,
    still_unrouted_accounts: counts.still_unrouted.accounts(),
  };
}

function describeReasons(tally: UnroutedTally): string {
  const parts = Object.entries(tally.byReason)
    .filter(([, count]) => count > 0)
    .map(([reason, count]) => `${reason} ${count}`);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

async function checkTargetExists(ctx: CommandContext, target: string): Promise<void> {
  const admin = await ctx.admin();
  const existing = await admin.listTopics();
  if (existing.includes(target)) return;
  throw new CliError(
    CliErrorCodes.TOPIC_NOT_FOUND,
    `target topic ${target} does not exist; create it first (for ig.events run igr topics apply, for a topic of your own use the partition count and configs of ig.events shown by igr topics list)`,
  );
}

export const rerouteGroup: CommandGroup = {
  name: 'reroute',
  summary: 'Route a time range of ig.raw again and drain ig.events.unrouted.',
  commands: [
    {
      spec: {
        name: 'reroute',
        summary:
          'Run the routing of ig.raw again over a time range, with the accounts as they are now.',
        details:
          'For an account onboarded or activated late, or after a router fix. Step 1 reads the event_id of every record of the target topic from --from minus --skew to its current end (skipped with --rewrite). Step 2 reads ig.raw in the range, splits every record as the router does and writes the events of entries whose account is now active. Step 3 reads ig.events.unrouted in the range and writes the events of entries whose account is now active, built from the stored entry, which covers deliveries whose ig.raw record is past its retention. An event whose event_id is already in the target topic or was written earlier in the run is skipped, so running the command again writes nothing new. Events keep the event_id, source (the ig.raw topic, partition, offset and entry index), key and timestamp the router gives them, and are written with an idempotent producer. Entries that are still unknown, inactive or without an id are counted, not written to ig.events.unrouted again, and records the router sends to ig.dlq are counted as dead letters and skipped. Offsets are looked up by record timestamp as in igr replay; reads are read_committed. Progress goes to stderr; the summary goes to stdout.',
        options: {
          from: {
            type: 'string',
            valueName: 'TIME',
            required: true,
            description:
              'Start of the range, inclusive: ISO-8601 with a zone, a date (midnight UTC), now, or relative such as -1h, -30m, -2d.',
          },
          to: {
            type: 'string',
            valueName: 'TIME',
            description: 'End of the range, exclusive, in the same forms as --from.',
            default: 'now',
          },
          'target-topic': {
            type: 'string',
            valueName: 'NAME',
            description:
              'Topic the events are written to, which must exist: ig.events (TOPIC_PREFIX is added) or the exact name of a topic of its own, for example to compare the output of a router fix before it reaches consumers.',
            default: 'ig.events',
          },
          account: {
            type: 'string',
            valueName: 'ID',
            description:
              'Only entries of this ig_business_id; also limits the event_id read of step 1 to records keyed by it.',
          },
          only: {
            type: 'string',
            valueName: 'SOURCE',
            description:
              'raw: only route ig.raw (step 2); unrouted: only drain ig.events.unrouted (step 3). Both run when it is left out.',
          },
          rewrite: {
            type: 'boolean',
            description:
              'Skip step 1 and write every event of the range even when its event_id is already in the target topic, such as after a router fix changed event contents. Each event_id is still written once per run.',
          },
          skew: {
            type: 'string',
            valueName: 'DURATION',
            description: 'How far timestamps may be out of order within a partition, such as 5m.',
            default: '5m',
          },
          'dry-run': {
            type: 'boolean',
            description:
              'Read and count everything but write nothing; events_written then counts the events that would be written.',
          },
          json: jsonOption,
        },
        examples: [
          'igr reroute --from -2d --account 17841400000000001',
          'igr reroute --from 2024-05-01T00:00:00Z --to 2024-05-02T00:00:00Z --dry-run --json',
          'igr reroute --from -1d --only raw --rewrite --target-topic ig.events.fix-check',
        ],
      },
      async run(ctx, parsed) {
        const { fromMs, toMs, skewMs } = timeRangeOptions(parsed);
        const account = accountOption(parsed);
        const only = parseOnly(stringOption(parsed, 'only'));
        const rewrite = flagOption(parsed, 'rewrite');
        const dryRun = flagOption(parsed, 'dry-run');

        const { kafka, topics } = ctx.kafka();
        const target = resolveTargetTopic(stringOption(parsed, 'target-topic'), topics);
        await checkTargetExists(ctx, target);
        const accounts = new RunAccounts(ctx.database().db);

        let complete = true;
        let knownIds = new Set<string>();
        if (!rewrite) {
          const progress = new ProgressReporter(
            ctx.io,
            `reroute ${target} event ids`,
            5_000,
            'event ids',
          );
          const scan = await collectEventIds(kafka, await ctx.admin(), target, fromMs - skewMs, {
            account,
            signal: ctx.io.signal,
            onProgress: (state, ids) => progress.update(state, ids),
          });
          progress.finish(scan.progress, scan.ids.size);
          knownIds = scan.ids;
          complete = scan.complete;
        }
        const eventIdsInTarget = knownIds.size;

        let producer: ReturnType<typeof createIdempotentProducer> | undefined;
        if (!dryRun) {
          const created = createIdempotentProducer(kafka);
          await created.connect();
          ctx.onClose(() => created.disconnect());
          producer = created;
        }
        const writer = new EventWriter(producer, target, knownIds);
        const options: RunOptions = {
          fromMs,
          toMs,
          skewMs,
          account,
          writer,
          accounts,
          progressLabel: dryRun ? 'events to write' : 'events written',
        };

        let raw: Awaited<ReturnType<typeof rerouteRaw>> | undefined;
        let unrouted: Awaited<ReturnType<typeof drainUnrouted>> | undefined;
        try {
          if (complete && only !== 'unrouted') {
            raw = await rerouteRaw(ctx, topics.raw, options);
            complete = raw.complete;
          }
          if (complete && only !== 'raw') {
            unrouted = await drainUnrouted(ctx, topics.unrouted, options);
            complete = unrouted.complete;
          }
        } catch (err) {
          // Events routed before the failure are still written, and a later run skips them. The
          // original error is the one reported.
          await writer.flush().catch((flushError: unknown) => {
            ctx
              .logger()
              .warn(
                { err: flushError, topic: target },
                'writing the events routed before the failure failed',
              );
          });
          throw err;
        }
        await writer.flush();

        const summary = {
          target_topic: target,
          from: new Date(fromMs).toISOString(),
          to: new Date(toMs).toISOString(),
          account: account ?? null,
          dry_run: dryRun,
          rewrite,
          complete,
          event_ids_in_target: rewrite ? null : eventIdsInTarget,
          raw: raw
            ? { ...describeCounts(raw.counts), dead_letters_skipped: raw.deadLetters }
            : null,
          unrouted: unrouted
            ? { ...describeCounts(unrouted.counts), invalid_records: unrouted.invalid }
            : null,
        };
        if (flagOption(parsed, 'json')) {
          await printJson(ctx.io, summary);
        } else {
          await printSummary(ctx, summary, raw, unrouted);
        }

        if (!complete) {
          await printNote(
            ctx.io,
            'reroute: stopped before the end of the range; run the same command again to finish, it skips the events already written.',
          );
          return ExitCodes.FAILURE;
        }
        return ExitCodes.OK;
      },
    },
  ],
};

async function printSummary(
  ctx: CommandContext,
  summary: { target_topic: string; from: string; to: string; dry_run: boolean },
  raw: Awaited<ReturnType<typeof rerouteRaw>> | undefined,
  unrouted: Awaited<ReturnType<typeof drainUnrouted>> | undefined,
): Promise<void> {
  const verb = summary.dry_run ? 'to write' : 'written';
  await printLine(
    ctx.io,
    `reroute ${summary.from} to ${summary.to} into ${summary.target_topic}${summary.dry_run ? ' (dry run, nothing written)' : ''}`,
  );
  if (raw) {
    const { counts } = raw;
    await printLine(
      ctx.io,
      `  ${counts.topic}: ${counts.records_read} records read, ${counts.events_written} events ${verb}, ${counts.events_already_written} already written, ${counts.still_unrouted.total} entries still unrouted${describeReasons(counts.still_unrouted)}, ${raw.deadLetters} dead letters skipped`,
    );
  }
  if (unrouted) {
    const { counts } = unrouted;
    await printLine(
      ctx.io,
      `  ${counts.topic}: ${counts.records_read} records read, ${counts.events_written} events ${verb}, ${counts.events_already_written} already written, ${counts.still_unrouted.total} entries still unrouted${describeReasons(counts.still_unrouted)}, ${unrouted.invalid} invalid records skipped`,
    );
  }
  const listed = new Map<string, UnroutedReason>();
  for (const source of [raw, unrouted]) {
    for (const entry of source?.counts.still_unrouted.accounts() ?? []) {
      listed.set(entry.ig_business_id, entry.reason);
    }
  }
  for (const [id, reason] of [...listed].slice(0, MAX_LISTED_ACCOUNTS)) {
    await printLine(ctx.io, `  still unrouted: ${id} (${reason})`);
  }
}
