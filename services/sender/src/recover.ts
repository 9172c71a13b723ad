import type { Database, Logger } from '@ig-router/core';
import type { Admin, Kafka } from 'kafkajs';
import type { Kysely } from 'kysely';
import type { CircuitBreakers } from './circuit-store.js';
import { SenderError, SenderErrorCodes } from './errors.js';
import type { ParkingLot } from './parking.js';
import type { PartitionMap } from './partitions.js';
import type { ResultPublisher } from './results.js';
import {
  isFinalState,
  listUnfinished,
  markResultsPublished,
  type SendRow,
  storedResult,
} from './sends-table.js';
import { readPartitionsOnce, type TopicTail } from './topic-reader.js';

export interface PartitionLoaderDeps {
  kafka: Kafka;
  admin: Admin;
  db: Kysely<Database>;
  circuitTail: TopicTail;
  circuits: CircuitBreakers;
  parking: ParkingLot;
  results: ResultPublisher;
  partitions: PartitionMap;
  resultsTopic: string;
  groupIdBase: string;
  logger: Logger;
}

/** How far before a row's last update the results topic is searched for its result. */
const RESULT_SEARCH_MARGIN_MS = 5 * 60_000;

/**
 * Prepares the `ig.outbound` partitions assigned to this instance before their commands are
 * processed:
 * 1. the circuit reader has read `ig.circuit` up to the high watermarks of those partitions,
 *    so the accounts' circuits are the last states written;
 * 2. accounts with parked commands enter parking, and resume rounds start where the circuit
 *    allows;
 * 3. final rows whose result was never marked as published (a crash between the Kafka
 *    acknowledgement and the mark) are looked up in `ig.outbound.results`; only results that
 *    are missing there are published.
 * Rows found `in_flight` or `pending` need nothing here: their records were not committed,
 * so they are redelivered and resolved by the normal pipeline.
 */
export class PartitionLoader {
  private assigned = new Set<number>();
  private loading: Promise<void> = Promise.resolve();
  private generation = 0;

  constructor(private readonly deps: PartitionLoaderDeps) {}

  /** Starts loading a new assignment; the previous one's state is dropped. */
  assign(partitions: number[]): void {
    this.generation += 1;
    const generation = this.generation;
    this.assigned = new Set(partitions);
    this.deps.parking.reset();
    this.deps.circuits.setOwnedPartitions(partitions);
    this.deps.circuits.forgetUnowned();
    this.loading = this.loadWithRetry(partitions, generation);
  }

  /** Resolves when the partition's assignment is loaded; assigns it first if it is new. */
  ready(partition: number): Promise<void> {
    if (!this.assigned.has(partition)) this.assign([...this.assigned, partition]);
    return this.loading;
  }

  private async loadWithRetry(partitions: number[], generation: number): Promise<void> {
    for (let attempt = 1; generation === this.generation; attempt += 1) {
      try {
        await this.load(partitions, generation);
        return;
      } catch (err) {
        const delayMs = Math.min(10_000, 250 * 2 ** attempt);
        this.deps.logger.error(
          { err, partitions, retry_in_ms: delayMs },
          'loading partition state failed; retrying',
        );
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
  }

  private async load(partitions: number[], generation: number): Promise<void> {
    const started = Date.now();
    const { deps } = this;
    await deps.circuitTail.caughtUp(partitions);

    const owned = new Set(partitions);
    const rows = (await listUnfinished(deps.db)).filter((row) =>
      owned.has(deps.partitions.partitionOf(row.ig_business_id)),
    );
    if (generation !== this.generation) return;

    const parkedByAccount = new Map<string, { client_id: string; parked: number }>();
    const unpublished: Array<SendRow & { updated_at: Date }> = [];
    for (const row of rows) {
      if (row.state === 'parked') {
        const entry = parkedByAccount.get(row.ig_business_id) ?? {
          client_id: row.client_id,
          parked: 0,
        };
        entry.parked += 1;
        parkedByAccount.set(row.ig_business_id, entry);
      } else if (isFinalState(row.state)) {
        unpublished.push(row);
      }
    }
    for (const [igBusinessId, entry] of parkedByAccount) {
      deps.parking.loadAccount(igBusinessId, entry.client_id, entry.parked);
    }
    await this.publishMissingResults(unpublished);

    deps.logger.info(
      {
        partitions,
        parked_accounts: parkedByAccount.size,
        republished_checked: unpublished.length,
        duration_ms: Date.now() - started,
      },
      'partitions loaded',
    );
  }

  private async publishMissingResults(rows: Array<SendRow & { updated_at: Date }>): Promise<void> {
    if (rows.length === 0) return;
    const { deps } = this;
    const wanted = new Set(rows.map((row) => row.command_id));
    const since =
      Math.min(...rows.map((row) => row.updated_at.getTime())) - RESULT_SEARCH_MARGIN_MS;
    const offsets = await deps.admin.fetchTopicOffsetsByTimestamp(deps.resultsTopic, since);
    const partitionsWanted = new Set(
      rows.map((row) => deps.partitions.partitionOf(row.ig_business_id)),
    );
    const starts = new Map<number, bigint | undefined>();
    for (const { partition, offset } of offsets) {
      // -1: no record at or after the time, so none of these results can be there.
      if (partitionsWanted.has(partition) && BigInt(offset) >= 0n) {
        starts.set(partition, BigInt(offset));
      }
    }

    const found = new Set<string>();
    await readPartitionsOnce(deps.kafka, deps.admin, {
      topic: deps.resultsTopic,
      groupIdBase: deps.groupIdBase,
      starts,
      onRecord: (_partition, message) => {
        const commandId = commandIdOf(message.value);
        if (commandId && wanted.has(commandId)) found.add(commandId);
      },
    }).catch((err: unknown) => {
      throw new SenderError(
        SenderErrorCodes.PARTITION_LOAD_FAILED,
        `reading ${deps.resultsTopic} to find unpublished results failed`,
        { cause: err },
      );
    });

    await markResultsPublished(deps.db, [...found]);
    for (const row of rows) {
      if (found.has(row.command_id)) continue;
      const result = storedResult(row);
      if (!result) continue;
      deps.logger.info(
        { command_id: row.command_id, ig_business_id: row.ig_business_id, status: result.status },
        'publishing a result that a crash left unpublished',
      );
      await deps.results.publish(result, true);
    }
  }
}

function commandIdOf(value: Buffer | null): string | undefined {
  if (!value) return undefined;
  try {
    const parsed = JSON.parse(value.toString('utf8')) as { command_id?: unknown };
    return typeof parsed.command_id === 'string' ? parsed.command_id : undefined;
  } catch {
    return undefined;
  }
}
