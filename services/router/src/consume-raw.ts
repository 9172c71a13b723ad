import { type Logger, readRawRecord, type TopicKey, watchConsumerReadiness } from '@ig-router/core';
import type { Admin, Batch, Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type { AccountCache } from './account-cache.js';
import { retryDelayMs } from './backoff.js';
import { AccountLookupError, TransactionFailedError } from './errors.js';
import type { RouterMetrics } from './metrics.js';
import { fetchOutputLimits } from './output-limits.js';
import { ProduceRequestPlanner } from './produce-requests.js';
import { type OutputLimits, type RoutedChunk, routeRecords } from './route.js';
import { type PartitionProducer, TransactionalProducers } from './transactional-producers.js';

export interface ConsumeRawOptions {
  kafka: Kafka;
  topics: Record<TopicKey, string>;
  accounts: AccountCache;
  metrics: RouterMetrics;
  logger: Logger;
  groupId: string;
  fromBeginning: boolean;
  sessionTimeoutMs: number;
  maxWaitTimeMs: number;
  partitionsConcurrency: number;
  maxRecordsPerTransaction: number;
  fetchMaxBytesPerPartition: number;
  maxSendBytes: number;
  transactionTimeoutMs: number;
  retryInitialMs: number;
  retryMaxMs: number;
  /** Called when the consumer stopped for good (kafkajs will not restart it). */
  onFatal?: ((err: unknown) => void) | undefined;
}

/**
 * The `ig.raw` pipeline: consume, split, route and produce in Kafka transactions.
 *
 * Each run of records (at most `maxRecordsPerTransaction`) is one transaction on the input
 * partition's own producer: its `ig.events`, `ig.events.unrouted` and `ig.dlq` messages and
 * the consumer offset (last offset + 1) commit together or not at all. On any failure the
 * transaction is aborted, the partition is paused and retried with backoff from the last
 * committed offset, so a crash, a rebalance or an outage gives neither loss nor duplicates
 * for consumers that read `read_committed`.
 */
export class ConsumeRaw {
  private readonly consumer: Consumer;
  private readonly inGroup: () => boolean;
  private readonly admin: Admin;
  private readonly producers: TransactionalProducers;
  private readonly planner: ProduceRequestPlanner;
  private readonly failures = new Map<string, number>();
  private readonly resumeTimers = new Set<NodeJS.Timeout>();
  private readonly logger: Logger;
  private running = false;
  private outputLimits: OutputLimits = {};

  constructor(private readonly options: ConsumeRawOptions) {
    this.logger = options.logger.child({ component: 'consume-raw' });
    this.consumer = options.kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs,
      maxWaitTimeInMs: options.maxWaitTimeMs,
      maxBytesPerPartition: options.fetchMaxBytesPerPartition,
      maxBytes: Math.max(10 * 1024 * 1024, options.fetchMaxBytesPerPartition * 3),
      heartbeatInterval: Math.min(3_000, Math.floor(options.sessionTimeoutMs / 3)),
      readUncommitted: false,
      allowAutoTopicCreation: false,
    });
    this.inGroup = watchConsumerReadiness(this.consumer);
    this.admin = options.kafka.admin();
    const { topics } = options;
    this.planner = new ProduceRequestPlanner(
      this.admin,
      [topics.events, topics.unrouted, topics.dlq],
      options.maxSendBytes,
    );
    this.producers = new TransactionalProducers({
      kafka: options.kafka,
      groupId: options.groupId,
      transactionTimeoutMs: options.transactionTimeoutMs,
      logger: this.logger,
    });
  }

  /** True while the consumer is a member of its group (part of the router's /readyz). */
  isReady(): boolean {
    return this.inGroup();
  }

  async start(): Promise<void> {
    const { consumer } = this;
    const rawTopic = this.options.topics.raw;

    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      this.logger.info(
        { group_id: payload.groupId, assignment: payload.memberAssignment },
        'joined the consumer group',
      );
      void this.onAssignment(payload.memberAssignment);
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      this.logger.error(
        { err: payload.error, group_id: payload.groupId, restart: payload.restart },
        'ig.raw consumer crashed',
      );
      if (!payload.restart) this.options.onFatal?.(payload.error);
    });

    await this.admin.connect();
    await this.planner.refresh();
    const { events, unrouted, dlq } = this.options.topics;
    this.outputLimits = await fetchOutputLimits(this.admin, { events, unrouted, dlq });
    this.logger.info({ max_message_bytes: this.outputLimits }, 'output topic limits read');
    await consumer.connect();
    await consumer.subscribe({ topics: [rawTopic], fromBeginning: this.options.fromBeginning });
    this.running = true;
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.options.partitionsConcurrency,
      eachBatch: (payload) => this.eachBatch(payload),
    });
    this.logger.info(
      { topic: rawTopic, group_id: this.options.groupId },
      'ig.raw pipeline started',
    );
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const timer of this.resumeTimers) clearTimeout(timer);
    this.resumeTimers.clear();
    await this.consumer.disconnect();
    await this.producers.closeAll();
    await this.admin.disconnect();
    this.logger.info({ topic: this.options.topics.raw }, 'ig.raw pipeline stopped');
  }

  /** Closes the producers of revoked partitions and creates those of new ones, which fences their previous owners. */
  private async onAssignment(assignment: Record<string, number[]>): Promise<void> {
    await this.producers.retainOnly(assignment);
    for (const [topic, partitions] of Object.entries(assignment)) {
      for (const partition of partitions) {
        this.producers.acquire(topic, partition).catch((err: unknown) => {
          this.logger.warn(
            { err, topic, partition },
            'creating a transactional producer failed; the first batch will try again',
          );
        });
      }
    }
  }

  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload;
    const { topic, partition } = batch;

    let owner: PartitionProducer;
    let messages: KafkaMessage[];
    try {
      owner = await this.producers.acquire(topic, partition);
      messages = await this.skipCommitted(owner, batch, resolveOffset);
    } catch (err) {
      this.retryLater(batch, batch.firstOffset() ?? '', 'producer_init', err);
      return;
    }

    for (let start = 0; start < messages.length; start += this.options.maxRecordsPerTransaction) {
      if (!this.running || !isRunning() || isStale()) return;
      const chunk = messages.slice(start, start + this.options.maxRecordsPerTransaction);
      const first = chunk[0] as KafkaMessage;
      const last = chunk[chunk.length - 1] as KafkaMessage;
      const records = chunk.map((message) => readRawRecord(topic, partition, message));

      let routed: RoutedChunk;
      try {
        routed = await routeRecords(records, this.options.accounts, this.outputLimits);
      } catch (err) {
        this.retryLater(
          batch,
          first.offset,
          err instanceof AccountLookupError ? 'account_lookup' : 'route',
          err,
        );
        return;
      }

      // The offset committed is the next one to read. After the batch's last message it is the
      // batch's last offset + 1, which also passes transaction control records at the end.
      const isBatchEnd = last === batch.messages[batch.messages.length - 1];
      const nextOffset = (BigInt(isBatchEnd ? batch.lastOffset() : last.offset) + 1n).toString();
      try {
        await this.commitChunk(owner, topic, partition, first.offset, routed, nextOffset);
      } catch (err) {
        this.options.metrics.transactions.inc({ outcome: 'abort' });
        await this.producers.discard(topic, partition);
        // The failure may be a record batch over the limit after partitions were added.
        await this.planner.refresh().catch(() => {});
        this.retryLater(batch, first.offset, 'transaction', err);
        return;
      }
      owner.committedNext = BigInt(nextOffset);
      resolveOffset(last.offset);
      this.failures.delete(`${topic}|${partition}`);
      this.recordCommitted(topic, partition, batch, chunk.length, routed, nextOffset);

      // A rebalance error thrown here is left to kafkajs, which rejoins the group. Everything
      // up to this chunk is committed.
      await heartbeat();
    }
  }

  /**
   * Drops the records before the group's committed offset, which only happens after a new
   * producer was initialized. kafkajs reads the committed offset when the partition is
   * assigned, which can be before a previous owner's last transaction finished committing.
   * Once InitProducerId has succeeded that transaction is complete. The offset read now is
   * final, and records below it already have their outputs in the output topics.
   */
  private async skipCommitted(
    owner: PartitionProducer,
    batch: Batch,
    resolveOffset: (offset: string) => void,
  ): Promise<KafkaMessage[]> {
    let committed: bigint | null;
    if (owner.offsetChecked) {
      // After a rejoin kafkajs fetches the group's offset again, and while this producer's last
      // commit markers are still being written (a broker restart) the group reports the offset
      // before that transaction. Its records are done: routing them again would duplicate them.
      committed = owner.committedNext ?? null;
    } else {
      committed = await this.committedOffset(batch.topic, batch.partition);
      owner.offsetChecked = true;
    }
    if (committed === null) return batch.messages;

    const remaining = batch.messages.filter((message) => BigInt(message.offset) >= committed);
    if (remaining.length < batch.messages.length) {
      this.logger.info(
        {
          topic: batch.topic,
          partition: batch.partition,
          offset: batch.firstOffset(),
          committed_offset: committed.toString(),
        },
        'skipping records committed by a previous transaction',
      );
      resolveOffset((committed - 1n).toString());
    }
    return remaining;
  }

  private async committedOffset(topic: string, partition: number): Promise<bigint | null> {
    const offsets = await this.admin.fetchOffsets({
      groupId: this.options.groupId,
      topics: [topic],
    });
    const entry = offsets
      .find((topicOffsets) => topicOffsets.topic === topic)
      ?.partitions.find((partitionOffset) => partitionOffset.partition === partition);
    if (!entry || entry.offset === '' || BigInt(entry.offset) < 0n) return null;
    return BigInt(entry.offset);
  }

  private async commitChunk(
    owner: PartitionProducer,
    topic: string,
    partition: number,
    firstOffset: string,
    routed: RoutedChunk,
    nextOffset: string,
  ): Promise<void> {
    const started = process.hrtime.bigint();
    const transaction = await owner.producer.transaction();
    let step = 'send';
    try {
      const outbound = routed.outputs.map(({ topic: key, message }) => ({
        topic: this.options.topics[key],
        message,
      }));
      for (const topicMessages of this.planner.plan(outbound)) {
        await transaction.sendBatch({ topicMessages, acks: -1 });
      }
      this.logger.debug(
        {
          topic,
          partition,
          offset: firstOffset,
          next_offset: nextOffset,
          outputs: routed.outputs.length,
          transactional_id: owner.transactionalId,
        },
        'transaction outputs sent; committing offsets',
      );
      step = 'sendOffsets';
      await transaction.sendOffsets({
        consumerGroupId: this.options.groupId,
        topics: [{ topic, partitions: [{ partition, offset: nextOffset }] }],
      });
      step = 'commit';
      await transaction.commit();
    } catch (err) {
      // The producer is discarded after this, and the next one's initialization aborts the
      // transaction on the broker if this abort does not reach it.
      await transaction.abort().catch(() => {});
      throw new TransactionFailedError(owner.transactionalId, step, err);
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.options.metrics.transactionSeconds.observe(seconds);
  }

  private recordCommitted(
    topic: string,
    partition: number,
    batch: Batch,
    recordCount: number,
    routed: RoutedChunk,
    nextOffset: string,
  ): void {
    const { metrics } = this.options;
    metrics.transactions.inc({ outcome: 'commit' });
    metrics.recordsIn.inc({ topic }, recordCount);
    for (const [type, count] of routed.eventsByType) metrics.eventsOut.inc({ type }, count);
    for (const [reason, count] of routed.unroutedByReason) metrics.unrouted.inc({ reason }, count);
    for (const deadLetter of routed.deadLetters) {
      metrics.deadLetters.inc({ reason: deadLetter.reason });
      this.logger.warn(
        {
          topic,
          partition,
          offset: deadLetter.offset,
          reason: deadLetter.reason,
          error: deadLetter.error,
        },
        'ig.raw record written to ig.dlq',
      );
    }
    const lag = BigInt(batch.highWatermark) - BigInt(nextOffset);
    metrics.consumerLag.set(
      { group: this.options.groupId, topic, partition: String(partition) },
      Number(lag > 0n ? lag : 0n),
    );
  }

  /**
   * Pauses the partition and resumes it after a backoff. Nothing past the last committed chunk
   * was resolved, so kafkajs then fetches again from there. `step` names what failed:
   * producer_init, account_lookup, route or transaction.
   */
  private retryLater(batch: Batch, offset: string, step: RetryStep, err: unknown): void {
    const { topic, partition } = batch;
    const key = `${topic}|${partition}`;
    const attempt = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, attempt);
    const delayMs = retryDelayMs(attempt, this.options.retryInitialMs, this.options.retryMaxMs);
    this.options.metrics.retries.inc({ pipeline: 'router', reason: step });
    if (offset !== '') {
      const lag = BigInt(batch.highWatermark) - BigInt(offset);
      this.options.metrics.consumerLag.set(
        { group: this.options.groupId, topic, partition: String(partition) },
        Number(lag > 0n ? lag : 0n),
      );
    }
    this.logger.warn(
      { err, topic, partition, offset, attempt, retry_in_ms: delayMs, step },
      'routing records failed; pausing the partition before a retry',
    );

    this.consumer.pause([{ topic, partitions: [partition] }]);
    const timer = setTimeout(() => {
      this.resumeTimers.delete(timer);
      if (this.running) this.consumer.resume([{ topic, partitions: [partition] }]);
    }, delayMs);
    this.resumeTimers.add(timer);
  }
}

type RetryStep = 'producer_init' | 'account_lookup' | 'route' | 'transaction';
