import type { Admin, Kafka, Message, Producer } from 'kafkajs';
import {
  type ReadProgress,
  rangesFromTimeToHighWatermarks,
  readPartitionRanges,
} from './kafka-read.js';
import type { ReroutedEvent } from './reroute-route.js';

/** Pending value bytes that trigger a send, below Kafka's default max.message.bytes of 1 MB. */
const FLUSH_BYTES = 512 * 1024;
const FLUSH_RECORDS = 500;

/**
 * Writes rerouted events to the target topic and skips an event whose `event_id` is in
 * `knownIds`. The set starts with the ids read from the target (empty with `--rewrite`) and
 * gets every id queued, so one run writes each id once. Events are buffered and sent with an
 * idempotent producer and acks from every in-sync replica. Without a producer (`--dry-run`)
 * it only counts what it would write.
 */
export class EventWriter {
  private pending: Message[] = [];
  private pendingBytes = 0;

  constructor(
    private readonly producer: Producer | undefined,
    private readonly topic: string,
    private readonly knownIds: Set<string>,
  ) {}

  /** Queues the event unless its id is known; returns whether it was queued. */
  async add(rerouted: ReroutedEvent): Promise<boolean> {
    const id = rerouted.event.event_id;
    if (this.knownIds.has(id)) return false;
    this.knownIds.add(id);
    if (this.producer === undefined) return true;

    this.pending.push(rerouted.message);
    this.pendingBytes += Buffer.byteLength(String(rerouted.message.value ?? ''));
    if (this.pending.length >= FLUSH_RECORDS || this.pendingBytes >= FLUSH_BYTES) {
      await this.flush();
    }
    return true;
  }

  /** Sends every queued event; resolves once the brokers acknowledged them. */
  async flush(): Promise<void> {
    if (this.producer === undefined || this.pending.length === 0) return;
    const messages = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    await this.producer.send({ topic: this.topic, messages, acks: -1 });
  }
}

export interface CollectEventIdsOptions {
  /** Only records keyed by this `ig_business_id`. */
  account?: string | undefined;
  signal: AbortSignal;
  onProgress(progress: ReadProgress, ids: number): void;
}

/**
 * Reads the `event_id` of every record of `topic` from the first offset at or after `fromMs`
 * to the current high watermark. The end is the high watermark, not a time, because events
 * written by an earlier reroute carry old timestamps after newer records. Values that are not
 * JSON with a string `event_id` are ignored.
 */
export async function collectEventIds(
  kafka: Kafka,
  admin: Admin,
  topic: string,
  fromMs: number,
  options: CollectEventIdsOptions,
): Promise<{ ids: Set<string>; complete: boolean; progress: ReadProgress }> {
  // TODO: every id of the span stays in memory, an estimated 100 bytes each, so a range of
  // millions of events needs hundreds of MB; --account or a shorter range reduces it.
  const ids = new Set<string>();
  let progress: ReadProgress = { done: 0n, total: 0n };
  const ranges = await rangesFromTimeToHighWatermarks(admin, topic, fromMs);
  const { complete } = await readPartitionRanges(kafka, topic, ranges, {
    purpose: 'reroute-ids',
    signal: options.signal,
    onProgress: (state) => {
      progress = state;
      options.onProgress(state, ids.size);
    },
    onRecord: ({ message }) => {
      if (message.value === null) return;
      if (options.account !== undefined && message.key?.toString('utf8') !== options.account) {
        return;
      }
      const id = readEventId(message.value);
      if (id !== undefined) ids.add(id);
    },
  });
  return { ids, complete, progress };
}

function readEventId(value: Buffer): string | undefined {
  try {
    const parsed = JSON.parse(value.toString('utf8')) as { event_id?: unknown } | null;
    return typeof parsed?.event_id === 'string' ? parsed.event_id : undefined;
  } catch {
    return undefined;
  }
}
