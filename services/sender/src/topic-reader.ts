import { randomUUID } from 'node:crypto';
import type { Logger } from '@ig-router/core';
import type { Admin, Consumer, Kafka, KafkaMessage } from 'kafkajs';
import { SenderError, SenderErrorCodes } from './errors.js';

export type RecordHandler = (partition: number, message: KafkaMessage) => void;

interface Watermarks {
  low: bigint;
  high: bigint;
}

async function fetchWatermarks(admin: Admin, topic: string): Promise<Map<number, Watermarks>> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return new Map(
    offsets.map((entry) => [entry.partition, { low: BigInt(entry.low), high: BigInt(entry.high) }]),
  );
}

/** Returns a consumer group id that no other process uses, under the service's own group id. */
export function privateGroupId(base: string, purpose: string): string {
  return `${base}.${purpose}.${randomUUID()}`;
}

/**
 * Reads a topic with a private consumer group that commits nothing. The high watermarks are
 * taken before reading. A partition counts as read when its last processed offset + 1 reaches
 * the high watermark, and batches of only control records advance it too, through the
 * END_BATCH_PROCESS event.
 */
class PrivateReader {
  readonly consumer: Consumer;
  /** Last processed offset + 1, per partition. */
  readonly progress = new Map<number, bigint>();
  private readonly listeners = new Set<() => void>();

  constructor(
    kafka: Kafka,
    readonly groupId: string,
  ) {
    this.consumer = kafka.consumer({
      groupId,
      maxWaitTimeInMs: 250,
      sessionTimeout: 30_000,
      allowAutoTopicCreation: false,
    });
    this.consumer.on(this.consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      this.advance(payload.partition, BigInt(payload.lastOffset) + 1n);
    });
  }

  advance(partition: number, next: bigint): void {
    if ((this.progress.get(partition) ?? -1n) >= next) return;
    this.progress.set(partition, next);
    for (const listener of this.listeners) listener();
  }

  /** Resolves when every partition's progress reaches its target, or rejects on timeout. */
  waitFor(targets: Map<number, bigint>, timeoutMs: number, what: string): Promise<void> {
    const reached = () =>
      [...targets].every(([partition, target]) => (this.progress.get(partition) ?? -1n) >= target);
    if (reached()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const listener = () => {
        if (!reached()) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        const behind = [...targets]
          .filter(([partition, target]) => (this.progress.get(partition) ?? -1n) < target)
          .map(([partition]) => partition);
        reject(
          new SenderError(
            SenderErrorCodes.TOPIC_READ_FAILED,
            `reading ${what} timed out after ${timeoutMs} ms; partitions not read to the end: ${behind.join(', ')}`,
          ),
        );
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.listeners.delete(listener);
      };
      this.listeners.add(listener);
    });
  }
}

export interface ReadOnceOptions {
  topic: string;
  groupIdBase: string;
  /** Partitions to read and the offset to start from; a missing start means the log start. */
  starts: Map<number, bigint | undefined>;
  onRecord: RecordHandler;
  timeoutMs?: number;
}

/**
 * Reads the given partitions from their start offsets to the high watermarks taken first, then
 * leaves and deletes the private group.
 */
export async function readPartitionsOnce(
  kafka: Kafka,
  admin: Admin,
  options: ReadOnceOptions,
): Promise<void> {
  const watermarks = await fetchWatermarks(admin, options.topic);
  const targets = new Map<number, bigint>();
  const setOffsets: Array<{ partition: number; offset: string }> = [];
  for (const [partition, marks] of watermarks) {
    const wanted = options.starts.has(partition);
    const requested = options.starts.get(partition);
    const start = wanted
      ? requested === undefined || requested < marks.low
        ? marks.low
        : requested
      : marks.high;
    setOffsets.push({ partition, offset: start.toString() });
    if (wanted && start < marks.high) targets.set(partition, marks.high);
  }
  if (targets.size === 0) return;

  const groupId = privateGroupId(options.groupIdBase, 'scan');
  await admin.setOffsets({ groupId, topic: options.topic, partitions: setOffsets });
  const reader = new PrivateReader(kafka, groupId);
  try {
    await reader.consumer.connect();
    await reader.consumer.subscribe({ topic: options.topic, fromBeginning: true });
    await reader.consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        if (targets.has(partition)) options.onRecord(partition, message);
      },
    });
    await reader.waitFor(targets, options.timeoutMs ?? 60_000, options.topic);
  } finally {
    await reader.consumer.disconnect().catch(() => {});
    await admin.deleteGroups([groupId]).catch(() => {});
  }
}

/**
 * Follows a whole topic from its beginning with a private consumer group and hands every
 * record to `onRecord`. `caughtUp` resolves once everything written before the call was read.
 */
export class TopicTail {
  private readonly reader: PrivateReader;
  private started = false;

  constructor(
    kafka: Kafka,
    private readonly admin: Admin,
    private readonly topic: string,
    groupIdBase: string,
    private readonly onRecord: RecordHandler,
    private readonly logger: Logger,
  ) {
    this.reader = new PrivateReader(kafka, privateGroupId(groupIdBase, 'tail'));
  }

  async start(): Promise<void> {
    const { consumer } = this.reader;
    await consumer.connect();
    await consumer.subscribe({ topic: this.topic, fromBeginning: true });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      this.logger.error({ topic: this.topic, err: payload.error }, 'topic reader crashed');
    });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => this.onRecord(partition, message),
    });
    this.started = true;
  }

  /**
   * Resolves once every record written to the given partitions before this call was handed
   * to `onRecord`.
   */
  async caughtUp(partitions: number[], timeoutMs = 60_000): Promise<void> {
    const watermarks = await fetchWatermarks(this.admin, this.topic);
    const targets = new Map<number, bigint>();
    for (const partition of partitions) {
      const marks = watermarks.get(partition);
      if (!marks || marks.high <= marks.low) continue;
      targets.set(partition, marks.high);
    }
    await this.reader.waitFor(targets, timeoutMs, this.topic);
  }

  async stop(): Promise<void> {
    await this.reader.consumer.disconnect().catch(() => {});
    if (this.started) await this.admin.deleteGroups([this.reader.groupId]).catch(() => {});
  }
}
