import { type Logger, watchConsumerReadiness } from '@ig-router/core';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type { SenderMetrics } from './metrics.js';
import { readResumeHeaders } from './parking.js';
import { KeyedQueue, Semaphore } from './queues.js';
import type { PartitionLoader } from './recover.js';
import type { CommandProcessor, InboundRecord, Outcome } from './send.js';

/**
 * Tracks which offsets of a batch are finished and returns the contiguous low-water mark: the
 * highest offset below which every offset is finished. kafkajs's `resolveOffset` accepts any
 * offset, even one behind an earlier call, so only this mark is ever resolved.
 */
export class OffsetTracker {
  private readonly finished: boolean[];
  private readonly index = new Map<string, number>();
  private next = 0;

  constructor(private readonly offsets: string[]) {
    this.finished = offsets.map(() => false);
    for (const [i, offset] of offsets.entries()) this.index.set(offset, i);
  }

  finish(offset: string): void {
    const i = this.index.get(offset);
    if (i !== undefined) this.finished[i] = true;
  }

  /** The last offset of the finished prefix; undefined while the first one is unfinished. */
  lowWaterMark(): string | undefined {
    while (this.next < this.offsets.length && this.finished[this.next]) this.next += 1;
    return this.next === 0 ? undefined : this.offsets[this.next - 1];
  }

  get allFinished(): boolean {
    return this.lowWaterMark() === this.offsets[this.offsets.length - 1];
  }
}

export interface OutboundConsumerOptions {
  topic: string;
  groupId: string;
  maxInFlight: number;
  sessionTimeoutMs: number;
  maxBytesPerPartition: number;
  /** Interval of heartbeats and offset resolution while a batch waits, in ms. */
  heartbeatIntervalMs?: number;
}

/** Queue key of a record: commands of one account and recipient are sent in order. */
function queueKey(record: InboundRecord): string {
  const json = record.json as {
    ig_business_id?: unknown;
    recipient?: { id?: unknown; comment_id?: unknown };
  } | null;
  const account = typeof json?.ig_business_id === 'string' ? json.ig_business_id : undefined;
  const recipient = json?.recipient?.id ?? json?.recipient?.comment_id;
  if (account === undefined || typeof recipient !== 'string') {
    return `unkeyed|${record.partition}|${record.offset}`;
  }
  return `${account}|${recipient}`;
}

function toInbound(partition: number, message: KafkaMessage): InboundRecord {
  let json: unknown;
  if (message.value !== null) {
    try {
      json = JSON.parse(message.value.toString('utf8'));
    } catch {
      json = undefined;
    }
  }
  return { partition, offset: message.offset, json, copy: readResumeHeaders(message.headers) };
}

function isRebalancing(err: unknown): boolean {
  const type = (err as { type?: unknown }).type;
  return (
    type === 'REBALANCE_IN_PROGRESS' ||
    type === 'UNKNOWN_MEMBER_ID' ||
    type === 'ILLEGAL_GENERATION'
  );
}

/**
 * The `ig.outbound` consumer loop. Each batch's commands go to per-key queues keyed by
 * (ig_business_id, recipient), so commands of one conversation are sent in order and all others
 * in parallel, up to MAX_IN_FLIGHT at once across partitions. While commands are in flight
 * the batch heartbeats and resolves the contiguous low-water mark of finished offsets, which
 * kafkajs commits, so the committed offset never passes an unfinished command.
 *
 * NOTE: kafkajs 2.2.4 fetches again only after every batch of the previous fetch was handled,
 * so a slow batch (a long queue for one conversation, or retry backoff) delays the other
 * partitions of the instance. Open circuits do not: their commands are parked.
 */
export class OutboundConsumer {
  private readonly consumer: Consumer;
  private readonly inGroup: () => boolean;
  private readonly queues = new KeyedQueue();
  private readonly slots: Semaphore;
  private readonly batches = new Set<AbortController>();
  private rebalancing = false;
  private stopping = false;

  constructor(
    kafka: Kafka,
    private readonly options: OutboundConsumerOptions,
    private readonly processor: CommandProcessor,
    private readonly loader: PartitionLoader,
    private readonly metrics: SenderMetrics,
    private readonly logger: Logger,
  ) {
    this.slots = new Semaphore(options.maxInFlight);
    this.consumer = kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs,
      heartbeatInterval: Math.min(3_000, Math.floor(options.sessionTimeoutMs / 3)),
      maxBytesPerPartition: options.maxBytesPerPartition,
      maxWaitTimeInMs: 500,
      allowAutoTopicCreation: false,
    });
    this.consumer.on(this.consumer.events.GROUP_JOIN, ({ payload }) => {
      const partitions = payload.memberAssignment[options.topic] ?? [];
      this.rebalancing = false;
      this.logger.info({ topic: options.topic, partitions }, 'partitions assigned');
      this.loader.assign(partitions);
    });
    this.consumer.on(this.consumer.events.REBALANCING, () => this.cancelBatches());
    this.inGroup = watchConsumerReadiness(this.consumer);
  }

  /** True while the consumer is a member of its group (the sender's /readyz). */
  isReady(): boolean {
    return !this.stopping && this.inGroup();
  }

  async start(): Promise<void> {
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.options.topic, fromBeginning: true });
    await this.consumer.run({
      autoCommit: true,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 64,
      eachBatch: (payload) => this.eachBatch(payload),
    });
  }

  /** Stops taking new commands, lets started ones finish, commits, and leaves the group. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.cancelBatches();
    await this.consumer.disconnect();
  }

  private cancelBatches(): void {
    for (const controller of this.batches) controller.abort();
  }

  // TODO: kafkajs fetches again only after every batch of the previous fetch was handled, so a
  // slow conversation (a long per-key queue or a retry backoff) delays this instance's other
  // partitions. Open circuits do not, because their commands are parked.
  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, commitOffsetsIfNecessary } = payload;
    if (this.stopping || this.rebalancing || batch.messages.length === 0) return;
    const interval = this.options.heartbeatIntervalMs ?? 1_000;

    const ready = this.loader.ready(batch.partition);
    if (!(await this.waitWithHeartbeat(ready, heartbeat, interval))) return;

    const controller = new AbortController();
    this.batches.add(controller);
    const tracker = new OffsetTracker(batch.messages.map((message) => message.offset));
    let failure: unknown;
    const tasks: Array<Promise<void>> = [];
    for (const message of batch.messages) {
      if (!payload.isRunning() || payload.isStale() || controller.signal.aborted) break;
      const record = toInbound(batch.partition, message);
      const task = this.queues
        .run(queueKey(record), () => this.runTask(record, controller.signal))
        .then(
          (outcome) => {
            if (outcome === 'done') tracker.finish(record.offset);
          },
          (err: unknown) => {
            failure ??= err;
            controller.abort();
            this.logger.error(
              { err, topic: batch.topic, partition: batch.partition, offset: record.offset },
              'processing a command failed unexpectedly; its record will be processed again',
            );
          },
        );
      tasks.push(task);
    }

    let resolved: string | undefined;
    const resolve = () => {
      const mark = tracker.lowWaterMark();
      if (mark !== undefined && mark !== resolved) {
        resolveOffset(mark);
        resolved = mark;
      }
    };
    try {
      await this.waitWithHeartbeat(Promise.all(tasks), heartbeat, interval, resolve, controller);
    } finally {
      this.batches.delete(controller);
      resolve();
    }
    await commitOffsetsIfNecessary();
    if (failure !== undefined) throw failure;
  }

  private async runTask(record: InboundRecord, signal: AbortSignal): Promise<Outcome> {
    if (signal.aborted) return 'cancelled';
    const leave = this.metrics.enter('queued');
    await this.slots.acquire();
    leave();
    try {
      if (signal.aborted) return 'cancelled';
      return await this.processor.process(record, signal);
    } finally {
      this.slots.release();
    }
  }

  /**
   * Waits for `work`, heartbeating every `intervalMs` and calling `onTick`. A heartbeat that
   * reports a rebalance, or fails otherwise, cancels the batch: queued commands are not
   * started, started ones finish. Returns false when a rebalance was reported; rethrows any
   * other heartbeat error once the work is done.
   */
  private async waitWithHeartbeat(
    work: Promise<unknown>,
    heartbeat: () => Promise<void>,
    intervalMs: number,
    onTick?: () => void,
    controller?: AbortController,
  ): Promise<boolean> {
    let done = false;
    const finished = work.then(
      () => {
        done = true;
      },
      () => {
        done = true;
      },
    );
    let rebalancing = false;
    let heartbeatError: unknown;
    while (!done) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([finished, new Promise((r) => (timer = setTimeout(r, intervalMs)))]);
      clearTimeout(timer);
      onTick?.();
      if (done || rebalancing || heartbeatError !== undefined) continue;
      try {
        await heartbeat();
      } catch (err) {
        controller?.abort();
        if (!isRebalancing(err)) {
          heartbeatError = err;
          continue;
        }
        rebalancing = true;
        this.rebalancing = true;
        this.logger.info('rebalance in progress; finishing started commands before rejoining');
        this.cancelBatches();
      }
    }
    await work;
    if (heartbeatError !== undefined) throw heartbeatError;
    return !rebalancing;
  }
}
