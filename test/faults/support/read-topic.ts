import { randomBytes } from 'node:crypto';
import type { Admin, Kafka, KafkaMessage } from 'kafkajs';

/** A record read back from a topic, with its position. */
export interface TopicRecord {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string>;
  timestamp: string;
}

/** Error raised when a topic or a consumer group does not reach its end before the deadline. */
export class ReadDeadlineError extends Error {
  readonly code = 'READ_DEADLINE_EXCEEDED';
}

function headerText(headers: KafkaMessage['headers']): Record<string, string> {
  const text: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const first = Array.isArray(value) ? value[0] : value;
    if (first === undefined) continue;
    text[name] = Buffer.isBuffer(first) ? first.toString('utf8') : String(first);
  }
  return text;
}

/** Returns the high watermark of every partition that holds at least one record. */
async function partitionEnds(admin: Admin, topic: string): Promise<Map<number, bigint>> {
  const offsets = await admin.fetchTopicOffsets(topic);
  const ends = new Map<number, bigint>();
  for (const partition of offsets) {
    if (BigInt(partition.high) > BigInt(partition.low)) {
      ends.set(partition.partition, BigInt(partition.high));
    }
  }
  return ends;
}

/**
 * Reads every committed record of a topic, from the beginning to the high watermarks taken at
 * the start, with a private consumer group (`read_committed`). A partition counts as read when
 * the last offset of a fetched batch reaches its high watermark; kafkajs reports batches that
 * hold only transaction markers or aborted records too, so a partition that ends in a marker
 * is finished as well. Raises ReadDeadlineError when that does not happen within `timeoutMs`,
 * which means a transaction is still open or the broker is unreachable.
 */
export async function readTopicToEnd(
  kafka: Kafka,
  topic: string,
  timeoutMs = 60_000,
): Promise<TopicRecord[]> {
  const admin = kafka.admin();
  await admin.connect();
  let ends: Map<number, bigint>;
  try {
    ends = await partitionEnds(admin, topic);
  } finally {
    await admin.disconnect();
  }
  if (ends.size === 0) return [];

  const records: TopicRecord[] = [];
  const seen = new Set<string>();
  const consumer = kafka.consumer({
    groupId: `reader-${randomBytes(6).toString('hex')}`,
    readUncommitted: false,
    maxWaitTimeInMs: 250,
    sessionTimeout: 10_000,
    allowAutoTopicCreation: false,
  });
  const behind = new Map(ends);
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolveFinished) => {
    finish = resolveFinished;
  });
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    if (payload.topic !== topic) return;
    const end = behind.get(payload.partition);
    if (end !== undefined && BigInt(payload.lastOffset) + 1n >= end) {
      behind.delete(payload.partition);
      if (behind.size === 0) finish();
    }
  });

  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        if (BigInt(message.offset) >= (ends.get(partition) ?? 0n)) return;
        // A rejoin of the reader's group (for example while a restarted broker loads its
        // coordinator state) fetches again from the last committed offset. The same offset is
        // the same record, so only records at new offsets are kept.
        const position = `${partition}:${message.offset}`;
        if (seen.has(position)) return;
        seen.add(position);
        records.push({
          topic,
          partition,
          offset: message.offset,
          key: message.key ? message.key.toString('utf8') : null,
          value: message.value,
          headers: headerText(message.headers),
          timestamp: message.timestamp,
        });
      },
    });
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        const positions = [...behind].map(([p, end]) => `partition ${p} (end ${end})`).join(', ');
        reject(
          new ReadDeadlineError(
            `reading ${topic} to its end took longer than ${timeoutMs} ms; still behind: ${positions}`,
          ),
        );
      }, timeoutMs);
    });
    try {
      await Promise.race([finished, deadline]);
    } finally {
      clearTimeout(timer);
    }
  } finally {
    await consumer.disconnect();
  }
  return records;
}

/**
 * Waits until a consumer group has committed, for every partition of `topic`, the offset after
 * the partition's last record, which for the router means every record's outputs are committed.
 */
export async function waitForGroupCaughtUp(
  admin: Admin,
  groupId: string,
  topic: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastGap = '';
  for (;;) {
    try {
      const ends = await partitionEnds(admin, topic);
      const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
      const gaps: string[] = [];
      for (const [partition, end] of ends) {
        const entry = committed?.partitions.find((p) => p.partition === partition);
        const offset = entry && entry.offset !== '' ? BigInt(entry.offset) : -1n;
        if (offset < end) gaps.push(`partition ${partition}: committed ${offset}, end ${end}`);
      }
      if (gaps.length === 0) return;
      lastGap = gaps.join('; ');
    } catch (err) {
      lastGap = `offsets could not be read: ${(err as Error).message}`;
    }
    if (Date.now() > deadline) {
      throw new ReadDeadlineError(
        `consumer group ${groupId} did not reach the end of ${topic} within ${timeoutMs} ms: ${lastGap}`,
      );
    }
    await new Promise((resolveWait) => setTimeout(resolveWait, 250));
  }
}
