import type { Logger } from '@ig-router/core';
import type { IHeaders, Producer, TopicMessages } from 'kafkajs';
import { SenderStoppedError } from './errors.js';

export interface OutgoingRecord {
  topic: string;
  key: string | null;
  /** null writes a tombstone. */
  value: string | null;
  headers?: IHeaders | undefined;
}

interface Pending {
  record: OutgoingRecord;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * Writes records through one idempotent producer from a single loop: every `write` joins the
 * next `sendBatch`, so requests never overlap. kafkajs has lost or reordered messages when
 * several `send` calls ran at once on an idempotent producer. A failed batch is retried until it
 * succeeds or the writer stops, so a result is never dropped while the sender runs.
 */
export class RecordWriter {
  private queue: Pending[] = [];
  private running: Promise<void> | undefined;
  private stopped = false;
  private failures = 0;

  constructor(
    private readonly producer: Producer,
    private readonly logger: Logger,
    private readonly maxBatch = 1_000,
    private readonly retryMaxMs = 5_000,
  ) {}

  /** Resolves when Kafka acknowledged the record with acks=all. */
  write(record: OutgoingRecord): Promise<void> {
    return this.writeAll([record]).then(() => undefined);
  }

  /** Writes the records in order, in as few batches as possible. */
  async writeAll(records: OutgoingRecord[]): Promise<void> {
    if (this.stopped) throw new SenderStoppedError();
    const acknowledged = records.map(
      (record) =>
        new Promise<void>((resolve, reject) => this.queue.push({ record, resolve, reject })),
    );
    this.kick();
    await Promise.all(acknowledged);
  }

  /**
   * Refuses new records and waits for the queued ones. While stopping, a failed batch is
   * rejected instead of retried, so stopping ends even when Kafka is unreachable.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    while (this.running) await this.running;
    for (const pending of this.queue.splice(0)) pending.reject(new SenderStoppedError());
  }

  private kick(): void {
    if (this.running) return;
    this.running = this.loop().finally(() => {
      this.running = undefined;
      if (this.queue.length > 0 && !this.stopped) this.kick();
    });
  }

  private async loop(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        await this.producer.sendBatch({ topicMessages: groupByTopic(batch), acks: -1 });
        this.failures = 0;
        for (const pending of batch) pending.resolve();
      } catch (err) {
        this.failures += 1;
        if (this.stopped) {
          for (const pending of batch) pending.reject(err as Error);
          continue;
        }
        const delayMs = Math.min(this.retryMaxMs, 100 * 2 ** Math.min(this.failures, 10));
        this.logger.error(
          { err, records: batch.length, retry_in_ms: delayMs },
          'writing records to Kafka failed; retrying',
        );
        this.queue.unshift(...batch);
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
  }
}

function groupByTopic(batch: Pending[]): TopicMessages[] {
  const byTopic = new Map<string, TopicMessages>();
  for (const { record } of batch) {
    let entry = byTopic.get(record.topic);
    if (!entry) {
      entry = { topic: record.topic, messages: [] };
      byTopic.set(record.topic, entry);
    }
    entry.messages.push({ key: record.key, value: record.value, headers: record.headers });
  }
  return [...byTopic.values()];
}
