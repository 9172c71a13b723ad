import {
  type Database,
  igEventV1Schema,
  type Logger,
  sendResultSchema,
  type TopicKey,
  watchConsumerReadiness,
} from '@ig-router/core';
import type { Batch, Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type { Kysely } from 'kysely';
import type { AccountCache } from './account-cache.js';
import { retryDelayMs } from './backoff.js';
import { AccountLookupError, ProjectionFailedError } from './errors.js';
import type { RouterMetrics } from './metrics.js';
import { type ProjectionOutcome, projectEvent, projectSendResult } from './read-model.js';

export interface ProjectorOptions {
  kafka: Kafka;
  db: Kysely<Database>;
  topics: Record<TopicKey, string>;
  accounts: AccountCache;
  metrics: RouterMetrics;
  logger: Logger;
  groupId: string;
  fromBeginning: boolean;
  sessionTimeoutMs: number;
  maxWaitTimeMs: number;
  retryInitialMs: number;
  retryMaxMs: number;
  onFatal?: ((err: unknown) => void) | undefined;
}

/** A record the projector cannot apply; it is logged and skipped, never retried. */
class UnappliableRecord extends Error {
  constructor(
    readonly reason: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

type RecordOutcome = ProjectionOutcome | 'skipped';

/**
 * Maintains the read model (igsids, messages) from `ig.events` and `ig.outbound.results`
 * with its own consumer group, reading committed records only. Writes are idempotent, so
 * offsets are committed after the writes (at least once). A record that cannot be applied,
 * such as one whose account was deleted, is logged and skipped; a database outage pauses the
 * partition and retries.
 */
export class Projector {
  private readonly consumer: Consumer;
  private readonly inGroup: () => boolean;
  private readonly failures = new Map<string, number>();
  private readonly resumeTimers = new Set<NodeJS.Timeout>();
  private readonly logger: Logger;
  private running = false;

  constructor(private readonly options: ProjectorOptions) {
    this.logger = options.logger.child({ component: 'projector' });
    this.consumer = options.kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs,
      maxWaitTimeInMs: options.maxWaitTimeMs,
      heartbeatInterval: Math.min(3_000, Math.floor(options.sessionTimeoutMs / 3)),
      readUncommitted: false,
      allowAutoTopicCreation: false,
    });
    this.inGroup = watchConsumerReadiness(this.consumer);
  }

  /** True while the consumer is a member of its group (part of the router's /readyz). */
  isReady(): boolean {
    return this.inGroup();
  }

  async start(): Promise<void> {
    const { consumer } = this;
    const topics = [this.options.topics.events, this.options.topics.outboundResults];
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      this.logger.error(
        { err: payload.error, group_id: payload.groupId, restart: payload.restart },
        'projector consumer crashed',
      );
      if (!payload.restart) this.options.onFatal?.(payload.error);
    });

    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: this.options.fromBeginning });
    this.running = true;
    await consumer.run({
      eachBatchAutoResolve: false,
      eachBatch: (payload) => this.eachBatch(payload),
    });
    this.logger.info({ topics, group_id: this.options.groupId }, 'projector started');
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const timer of this.resumeTimers) clearTimeout(timer);
    this.resumeTimers.clear();
    await this.consumer.disconnect();
    this.logger.info('projector stopped');
  }

  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload;
    const { topic, partition } = batch;

    for (const message of batch.messages) {
      if (!this.running || !isRunning() || isStale()) return;

      let outcome: RecordOutcome;
      try {
        outcome = await this.apply(topic, message);
      } catch (err) {
        if (err instanceof UnappliableRecord) {
          outcome = 'skipped';
          this.logger.warn(
            { err: err.cause ?? err, topic, partition, offset: message.offset, reason: err.reason },
            'projector skipped a record it cannot apply',
          );
        } else {
          this.retryLater(batch, message.offset, err);
          return;
        }
      }

      resolveOffset(message.offset);
      this.failures.delete(`${topic}|${partition}`);
      this.options.metrics.projectorRecords.inc({ topic, outcome });
      await heartbeat();
    }

    const lag = BigInt(batch.highWatermark) - BigInt(batch.lastOffset()) - 1n;
    this.options.metrics.consumerLag.set(
      { group: this.options.groupId, topic, partition: String(partition) },
      Number(lag > 0n ? lag : 0n),
    );
  }

  private async apply(topic: string, message: KafkaMessage): Promise<ProjectionOutcome> {
    const value = parseJson(message.value);
    if (topic === this.options.topics.events) {
      const parsed = igEventV1Schema.safeParse(value);
      if (!parsed.success) {
        throw new UnappliableRecord(
          'invalid_event',
          `invalid ig.event.v1: ${parsed.error.message}`,
        );
      }
      return this.write(() => projectEvent(this.options.db, parsed.data));
    }

    const parsed = sendResultSchema.safeParse(value);
    if (!parsed.success) {
      throw new UnappliableRecord('invalid_result', `invalid send result: ${parsed.error.message}`);
    }
    const result = parsed.data;
    if (result.status !== 'sent' || result.ig_business_id === null) return 'ignored';

    // Send results carry no client_id; the account registry is the source of tenancy.
    const accounts = await this.options.accounts.lookup([result.ig_business_id]);
    const account = accounts.get(result.ig_business_id);
    if (!account) {
      throw new UnappliableRecord(
        'unknown_account',
        `account ${result.ig_business_id} of command ${result.command_id} is not in ig_accounts`,
      );
    }
    return this.write(() => projectSendResult(this.options.db, result, account.client_id));
  }

  /**
   * Runs a write. Data and constraint errors (SQLSTATE classes 22 and 23, such as the foreign
   * key to a deleted account) make the record unappliable. Every other error is retried.
   */
  private async write(run: () => Promise<ProjectionOutcome>): Promise<ProjectionOutcome> {
    try {
      return await run();
    } catch (err) {
      const sqlState = (err as { code?: unknown }).code;
      if (typeof sqlState === 'string' && /^(22|23)[0-9A-Z]{3}$/.test(sqlState)) {
        throw new UnappliableRecord(`sqlstate_${sqlState}`, 'the read model rejected the record', {
          cause: err,
        });
      }
      throw new ProjectionFailedError(
        'writing the read model failed; the record will be retried',
        err,
      );
    }
  }

  private retryLater(batch: Batch, offset: string, err: unknown): void {
    const { topic, partition } = batch;
    const key = `${topic}|${partition}`;
    const attempt = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, attempt);
    const delayMs = retryDelayMs(attempt, this.options.retryInitialMs, this.options.retryMaxMs);
    const reason =
      err instanceof AccountLookupError
        ? 'account_lookup'
        : err instanceof ProjectionFailedError
          ? 'write'
          : 'error';
    this.options.metrics.retries.inc({ pipeline: 'projector', reason });
    this.logger.warn(
      { err, topic, partition, offset, attempt, retry_in_ms: delayMs, reason },
      'projecting a record failed; pausing the partition before a retry',
    );

    this.consumer.pause([{ topic, partitions: [partition] }]);
    const timer = setTimeout(() => {
      this.resumeTimers.delete(timer);
      if (this.running) this.consumer.resume([{ topic, partitions: [partition] }]);
    }, delayMs);
    this.resumeTimers.add(timer);
  }
}

function parseJson(value: Buffer | null): unknown {
  if (value === null) throw new UnappliableRecord('tombstone', 'the record has no value');
  try {
    return JSON.parse(value.toString('utf8'));
  } catch (err) {
    throw new UnappliableRecord('invalid_json', 'the record value is not JSON', { cause: err });
  }
}
