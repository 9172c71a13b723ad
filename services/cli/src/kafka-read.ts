import { randomBytes } from 'node:crypto';
import type { Admin, Consumer, Kafka, KafkaMessage } from 'kafkajs';
import { CliError, CliErrorCodes } from './errors.js';

/** Offsets `[start, end)` of one partition to read. Offsets are decimal strings, as in kafkajs. */
export interface PartitionRange {
  partition: number;
  start: string;
  end: string;
}

export interface RangeRecord {
  topic: string;
  partition: number;
  message: KafkaMessage;
}

export interface ReadProgress {
  /** Offsets passed so far, summed over partitions; counts skipped and control records too. */
  done: bigint;
  total: bigint;
}

export interface ReadRangesOptions {
  /** Label in the private consumer group id, such as `replay`. */
  purpose: string;
  onRecord(record: RangeRecord): Promise<void> | void;
  onProgress?(progress: ReadProgress): void;
  signal?: AbortSignal;
  /** Fails with READ_TIMED_OUT when no batch arrives for this long while offsets remain. */
  idleTimeoutMs?: number;
}

export interface ReadRangesResult {
  /** False when the signal stopped the read before every range was read. */
  complete: boolean;
}

/**
 * Reads each partition's `[start, end)` offsets once, in offset order per partition, with a
 * private consumer group that commits nothing. Reads committed records only, so records of
 * open or aborted transactions are skipped. A partition counts as read when its position
 * reaches `end`, including batches of only control records, which kafkajs reports through
 * the END_BATCH_PROCESS event without passing them to eachBatch.
 */
export async function readPartitionRanges(
  kafka: Kafka,
  topic: string,
  ranges: PartitionRange[],
  options: ReadRangesOptions,
): Promise<ReadRangesResult> {
  const pending = new Map<number, { start: bigint; end: bigint; position: bigint }>();
  let total = 0n;
  for (const range of ranges) {
    const start = BigInt(range.start);
    const end = BigInt(range.end);
    if (end <= start) continue;
    pending.set(range.partition, { start, end, position: start });
    total += end - start;
  }
  const progress = (): ReadProgress => {
    let done = total;
    for (const state of pending.values()) done -= state.end - state.position;
    return { done, total };
  };
  if (pending.size === 0) {
    options.onProgress?.({ done: 0n, total: 0n });
    return { complete: true };
  }
  if (options.signal?.aborted) return { complete: false };

  const consumer: Consumer = kafka.consumer({
    groupId: `igr-${options.purpose}-${randomBytes(6).toString('hex')}`,
    readUncommitted: false,
    sessionTimeout: 30_000,
    maxWaitTimeInMs: 500,
    allowAutoTopicCreation: false,
    // A restarted consumer rejoins without the seeks, so a crash ends the read instead.
    retry: { restartOnFailure: async () => false },
  });
  const allPartitions = [...ranges.map((range) => range.partition)];

  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    return await new Promise<ReadRangesResult>((resolve, reject) => {
      let settled = false;
      let idleTimer: NodeJS.Timeout | undefined;
      const finish = (error: Error | undefined, result?: ReadRangesResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(idleTimer);
        options.signal?.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else resolve(result ?? { complete: true });
      };
      const armIdleTimer = () => {
        clearTimeout(idleTimer);
        const idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
        idleTimer = setTimeout(() => {
          const left = [...pending.keys()].join(', ');
          finish(
            new CliError(
              CliErrorCodes.READ_TIMED_OUT,
              `no records arrived from ${topic} for ${idleTimeoutMs} ms while partitions ${left} were not read to their end offsets; check that the brokers are reachable and run the command again`,
            ),
          );
        }, idleTimeoutMs);
      };
      const onAbort = () => finish(undefined, { complete: false });
      options.signal?.addEventListener('abort', onAbort, { once: true });

      const advance = (partition: number, lastOffset: string | null | undefined) => {
        const state = pending.get(partition);
        if (!state || lastOffset === null || lastOffset === undefined) return;
        const next = BigInt(lastOffset) + 1n;
        if (next > state.position) state.position = next < state.end ? next : state.end;
        if (state.position >= state.end) {
          pending.delete(partition);
          consumer.pause([{ topic, partitions: [partition] }]);
        }
        options.onProgress?.(progress());
        armIdleTimer();
        if (pending.size === 0) finish(undefined, { complete: true });
      };

      consumer.on(consumer.events.END_BATCH_PROCESS, (event) => {
        if (event.payload.topic === topic)
          advance(event.payload.partition, event.payload.lastOffset);
      });
      consumer.on(consumer.events.CRASH, (event) => {
        finish(event.payload.error);
      });

      consumer
        .run({
          autoCommit: false,
          // kafkajs fetches from the resolved offset, so each batch is resolved once handled.
          eachBatchAutoResolve: true,
          eachBatch: async ({ batch, heartbeat, isRunning, isStale }) => {
            const state = pending.get(batch.partition);
            if (!state) return;
            for (const message of batch.messages) {
              if (settled || !isRunning() || isStale()) return;
              const offset = BigInt(message.offset);
              if (offset < state.start) continue;
              if (offset >= state.end) break;
              await options.onRecord({ topic, partition: batch.partition, message });
              await heartbeat();
            }
          },
        })
        .then(() => {
          for (const partition of allPartitions) {
            const state = pending.get(partition);
            if (state) consumer.seek({ topic, partition, offset: state.start.toString() });
            else consumer.pause([{ topic, partitions: [partition] }]);
          }
          armIdleTimer();
        })
        .catch((err: unknown) => finish(err as Error));
    });
  } finally {
    await consumer.disconnect().catch(() => {});
  }
}

/**
 * Builds the ranges from the first offset whose timestamp is at or after `fromMs` to the first
 * offset at or after `toMs`, per partition, with admin.fetchTopicOffsetsByTimestamp. kafkajs
 * replaces "no such offset" with the partition's end offset, so a range past the last record
 * ends there.
 */
export async function rangesForTimes(
  admin: Admin,
  topic: string,
  fromMs: number,
  toMs: number,
): Promise<PartitionRange[]> {
  await assertTopicExists(admin, topic);
  const starts = await admin.fetchTopicOffsetsByTimestamp(topic, fromMs);
  const ends = await admin.fetchTopicOffsetsByTimestamp(topic, toMs);
  const endByPartition = new Map(ends.map((entry) => [entry.partition, entry.offset]));
  return starts.map((entry) => ({
    partition: entry.partition,
    start: entry.offset,
    end: endByPartition.get(entry.partition) ?? entry.offset,
  }));
}

/**
 * Builds the ranges from the first stored offset to the high watermark of every partition,
 * as taken now; records written later are not read.
 */
export async function rangesToHighWatermarks(
  admin: Admin,
  topic: string,
): Promise<PartitionRange[]> {
  await assertTopicExists(admin, topic);
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.map((entry) => ({
    partition: entry.partition,
    start: entry.low,
    end: entry.high,
  }));
}

/**
 * Builds the ranges from the first offset whose timestamp is at or after `fromMs` to the high
 * watermark of every partition, as taken now. Unlike `rangesForTimes`, it also covers records
 * appended later with older timestamps, such as events written by an earlier reroute.
 */
export async function rangesFromTimeToHighWatermarks(
  admin: Admin,
  topic: string,
  fromMs: number,
): Promise<PartitionRange[]> {
  await assertTopicExists(admin, topic);
  const starts = await admin.fetchTopicOffsetsByTimestamp(topic, fromMs);
  const ends = await admin.fetchTopicOffsets(topic);
  const startByPartition = new Map(starts.map((entry) => [entry.partition, entry.offset]));
  return ends.map((entry) => ({
    partition: entry.partition,
    start: startByPartition.get(entry.partition) ?? entry.high,
    end: entry.high,
  }));
}

/** Throws TOPIC_NOT_FOUND, naming the topic and the fix, when the topic does not exist. */
export async function assertTopicExists(admin: Admin, topic: string): Promise<void> {
  const topics = await admin.listTopics();
  if (!topics.includes(topic)) {
    throw new CliError(
      CliErrorCodes.TOPIC_NOT_FOUND,
      `topic ${topic} does not exist; check TOPIC_PREFIX, or create the topics with igr topics apply`,
    );
  }
}

export interface FollowOptions {
  /** Label in the private consumer group id, such as `tail`. */
  purpose: string;
  /** Returns `stop` to end the follow, for example once an awaited record arrived. */
  onRecord(record: RangeRecord): Promise<'stop' | undefined> | 'stop' | undefined;
  /** Called once the end offsets are taken: every record written after this is delivered. */
  onReady?(): Promise<void> | void;
  signal: AbortSignal;
}

/**
 * Follows a topic from its current end offsets until the signal aborts or `onRecord` returns
 * `stop`. Reads committed records only. The end offsets are taken before the consumer group
 * is joined, so records written while it joins are not missed.
 */
export async function followTopic(
  kafka: Kafka,
  admin: Admin,
  topic: string,
  options: FollowOptions,
): Promise<void> {
  await assertTopicExists(admin, topic);
  const ends = await admin.fetchTopicOffsets(topic);
  if (options.signal.aborted) return;

  const consumer: Consumer = kafka.consumer({
    groupId: `igr-${options.purpose}-${randomBytes(6).toString('hex')}`,
    readUncommitted: false,
    sessionTimeout: 30_000,
    maxWaitTimeInMs: 500,
    allowAutoTopicCreation: false,
    // A restarted consumer rejoins without the seeks, so a crash ends the read instead.
    retry: { restartOnFailure: async () => false },
  });
  const startByPartition = new Map(ends.map((entry) => [entry.partition, BigInt(entry.high)]));

  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: false });
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (error?: Error) => {
        if (settled) return;
        settled = true;
        options.signal.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else resolve();
      };
      const onAbort = () => finish();
      options.signal.addEventListener('abort', onAbort, { once: true });
      consumer.on(consumer.events.CRASH, (event) => finish(event.payload.error));

      consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            if (settled) return;
            // Records before the end offsets taken first can arrive if the seek lands after the
            // first fetch; they are older than the follow and skipped.
            const start = startByPartition.get(partition) ?? 0n;
            if (BigInt(message.offset) < start) return;
            const outcome = await options.onRecord({ topic, partition, message });
            if (outcome === 'stop') finish();
          },
        })
        .then(async () => {
          for (const entry of ends) {
            consumer.seek({ topic, partition: entry.partition, offset: entry.high });
          }
          await options.onReady?.();
        })
        .catch((err: unknown) => finish(err as Error));
    });
  } finally {
    await consumer.disconnect().catch(() => {});
  }
}
