import { performance } from 'node:perf_hooks';
import type { Logger } from '@ig-router/core';
import type { Message, Producer } from 'kafkajs';
import { GatewayErrorCodes, ProduceError } from './errors.js';
import type { GatewayMetrics } from './metrics.js';

export interface ProduceBatcherOptions {
  topic: string;
  /** Creates a new idempotent producer, at start and after every failed or stalled send. */
  createProducer: () => Producer;
  /** Maximum time in ms that a record arriving at an idle loop waits for others to join it. */
  lingerMs: number;
  maxBatchRecords: number;
  /** Batch size limit in bytes; a single larger record is sent alone. */
  maxBatchBytes: number;
  /** Bytes of queued records above which `produce` rejects at once. */
  maxQueuedBytes: number;
  /** Time a record may wait for its acknowledgement before `produce` rejects. */
  produceTimeoutMs: number;
  logger: Logger;
  metrics: GatewayMetrics;
}

interface PendingRecord {
  /** Cleared when the record expires while still queued, so its body can be collected. */
  message: Message | undefined;
  bytes: number;
  queuedAt: number;
  inFlight: boolean;
  settled: boolean;
  timer: NodeJS.Timeout | undefined;
  resolve: () => void;
  reject: (error: ProduceError) => void;
}

type SendOutcome = { kind: 'sent' } | { kind: 'failed'; err: unknown } | { kind: 'stalled' };

const RECONNECT_INITIAL_DELAY_MS = 250;
const RECONNECT_MAX_DELAY_MS = 5_000;

function messageBytes(message: Message): number {
  let bytes = 0;
  if (message.value) bytes += message.value.length;
  if (message.key) bytes += message.key.length;
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    bytes += name.length + (typeof value === 'string' || Buffer.isBuffer(value) ? value.length : 0);
  }
  return bytes;
}

/**
 * Collects records from concurrent requests into `sendBatch` calls made by one send loop, and
 * settles each request's promise when Kafka acknowledged its own record (acks=all).
 *
 * kafkajs 2.2.4 has no linger, and concurrent `send` calls on one idempotent producer have lost
 * or reordered messages in past kafkajs versions, so every send goes through this single loop.
 *
 * After a failed or stalled send the producer is replaced by a new one, with a new producer id.
 * kafkajs rolls back its sequence numbers when a produce request fails, so the same producer
 * would number the next, different batch like the failed one. When the broker had written the
 * failed batch after all, and the new batch has as many records, the broker takes the new one
 * for a duplicate: it acknowledges the batch without writing it.
 */
export class ProduceBatcher {
  private readonly options: ProduceBatcherOptions;
  private readonly logger: Logger;
  private readonly stallTimeoutMs: number;

  private queue: PendingRecord[] = [];
  private head = 0;
  private queuedRecords = 0;
  private queuedBytes = 0;

  private producer: Producer | undefined;
  private closing = false;
  private wake: (() => void) | undefined;
  private loopDone: Promise<void> | undefined;

  private lastWriteOkAt = 0;
  private lastWriteFailedAt = 0;
  /** `performance.now()` when the last send ended; starts far in the past, so the loop is idle. */
  private lastSendEndedAt = Number.NEGATIVE_INFINITY;

  constructor(options: ProduceBatcherOptions) {
    this.options = options;
    this.logger = options.logger.child({ component: 'produce-batcher', topic: options.topic });
    // By then every request in the batch has been answered with 503, and waiting longer on
    // the same producer only delays the records queued behind it.
    this.stallTimeoutMs = 2 * options.produceTimeoutMs;
  }

  /**
   * Connects the first producer and starts the send loop. Throws a KAFKA_UNAVAILABLE
   * ProduceError when the producer cannot connect (kafkajs retries for a while first).
   */
  async start(): Promise<void> {
    const producer = this.options.createProducer();
    try {
      await producer.connect();
    } catch (err) {
      await producer.disconnect().catch(() => {});
      throw new ProduceError(
        GatewayErrorCodes.KAFKA_UNAVAILABLE,
        `the Kafka producer for ${this.options.topic} could not connect: ${(err as Error).message}`,
        { cause: err },
      );
    }
    this.producer = producer;
    this.logger.info('producer connected');
    this.loopDone = this.runLoop();
  }

  /**
   * Queues a record and resolves when Kafka acknowledged it. Rejects with a ProduceError when
   * it is not acknowledged within `produceTimeoutMs`, when the send fails, when the queue is
   * full, or when the batcher is closing.
   */
  produce(message: Message): Promise<void> {
    if (this.closing) {
      return Promise.reject(
        new ProduceError(GatewayErrorCodes.GATEWAY_CLOSING, 'the gateway is shutting down'),
      );
    }
    const bytes = messageBytes(message);
    if (this.queuedBytes + bytes > this.options.maxQueuedBytes) {
      this.options.metrics.kafkaErrors.inc({ kind: 'queue_full' });
      this.lastWriteFailedAt = Date.now();
      return Promise.reject(
        new ProduceError(
          GatewayErrorCodes.PRODUCE_QUEUE_FULL,
          `the produce queue contains ${this.queuedBytes} bytes, the limit is ${this.options.maxQueuedBytes}`,
        ),
      );
    }

    return new Promise<void>((resolve, reject) => {
      const record: PendingRecord = {
        message,
        bytes,
        queuedAt: performance.now(),
        inFlight: false,
        settled: false,
        timer: undefined,
        resolve,
        reject,
      };
      record.timer = setTimeout(() => this.expire(record), this.options.produceTimeoutMs);
      this.queue.push(record);
      this.queuedRecords += 1;
      this.queuedBytes += bytes;
      if (this.queuedRecords === 1 || this.isBatchFull()) this.wake?.();
    });
  }

  /** True while a producer is connected, so records can be sent without reconnecting first. */
  isConnected(): boolean {
    return this.producer !== undefined && !this.closing;
  }

  /** Times in ms since the epoch of the last acknowledged and the last failed write (0: none). */
  writeHealth(): { lastWriteOkAt: number; lastWriteFailedAt: number } {
    return { lastWriteOkAt: this.lastWriteOkAt, lastWriteFailedAt: this.lastWriteFailedAt };
  }

  /**
   * Stops accepting records, sends the queued ones, and disconnects the producer. Waits at most
   * `timeoutMs`; records still unacknowledged then have already been rejected by their timeout.
   */
  async close(timeoutMs = this.options.produceTimeoutMs + 2_000): Promise<void> {
    this.closing = true;
    this.wake?.();
    if (!this.loopDone) return;

    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      this.loopDone.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (!finished) {
      this.logger.warn({ timeout_ms: timeoutMs }, 'producer did not flush in time; disconnecting');
      await this.disconnectProducer();
    }
  }

  private async runLoop(): Promise<void> {
    for (;;) {
      if (!this.producer && !(await this.reconnect())) break;

      if (!(await this.waitForBatch())) break;

      const batch = this.takeBatch();
      if (batch.length === 0) continue;
      await this.send(batch);
      this.lastSendEndedAt = performance.now();
    }
    await this.disconnectProducer();
    this.logger.info('producer closed');
  }

  /**
   * Waits until a batch is due, and returns false when closing with nothing queued.
   *
   * A batch is due when the queue contains a full batch, when the batcher is closing, or when the
   * oldest queued record has waited `lingerMs`. The linger only applies to a record that arrives
   * after the loop has been idle for `lingerMs`. With one send in flight at a time, records
   * that arrive during a busy period already gather while the previous send is in flight, so
   * a linger there would only add to every request's latency.
   */
  private async waitForBatch(): Promise<boolean> {
    for (;;) {
      this.dropSettledHead();
      const oldest = this.queue[this.head];
      if (this.queuedRecords === 0 || !oldest) {
        if (this.closing) return false;
        await this.waitForWake(undefined);
        continue;
      }
      if (this.closing || this.isBatchFull()) return true;
      if (oldest.queuedAt - this.lastSendEndedAt < this.options.lingerMs) return true;

      const remainingMs = oldest.queuedAt + this.options.lingerMs - performance.now();
      if (remainingMs <= 0) return true;
      await this.waitForWake(remainingMs);
    }
  }

  private waitForWake(timeoutMs: number | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      this.wake = wake;
      if (timeoutMs !== undefined) timer = setTimeout(wake, Math.ceil(timeoutMs));
    });
  }

  private isBatchFull(): boolean {
    return (
      this.queuedRecords >= this.options.maxBatchRecords ||
      this.queuedBytes >= this.options.maxBatchBytes
    );
  }

  private takeBatch(): PendingRecord[] {
    const batch: PendingRecord[] = [];
    let bytes = 0;
    while (this.head < this.queue.length && batch.length < this.options.maxBatchRecords) {
      const record = this.queue[this.head] as PendingRecord;
      if (record.settled) {
        this.head += 1;
        continue;
      }
      if (batch.length > 0 && bytes + record.bytes > this.options.maxBatchBytes) break;

      this.head += 1;
      record.inFlight = true;
      batch.push(record);
      bytes += record.bytes;
      this.queuedRecords -= 1;
      this.queuedBytes -= record.bytes;
    }
    this.compactQueue();
    return batch;
  }

  /** Drops expired records from the front, so an outage does not keep their objects queued. */
  private dropSettledHead(): void {
    while (this.head < this.queue.length && this.queue[this.head]?.settled) this.head += 1;
    this.compactQueue();
  }

  private compactQueue(): void {
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1_024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  private expire(record: PendingRecord): void {
    if (record.settled) return;
    record.settled = true;
    if (!record.inFlight) {
      this.queuedRecords -= 1;
      this.queuedBytes -= record.bytes;
      record.message = undefined;
    }
    this.options.metrics.kafkaErrors.inc({ kind: 'produce_timeout' });
    this.lastWriteFailedAt = Date.now();
    record.reject(
      new ProduceError(
        GatewayErrorCodes.PRODUCE_TIMEOUT,
        `Kafka did not acknowledge the record within ${this.options.produceTimeoutMs} ms`,
      ),
    );
    if (!record.inFlight) this.dropSettledHead();
  }

  private async send(batch: PendingRecord[]): Promise<void> {
    const producer = this.producer as Producer;
    const messages = batch.map((record) => record.message as Message);
    this.options.metrics.produceBatchRecords.observe(batch.length);

    const sending = producer.sendBatch({
      acks: -1,
      timeout: this.options.produceTimeoutMs,
      topicMessages: [{ topic: this.options.topic, messages }],
    });
    const outcome = await this.raceStall(sending);

    if (outcome.kind === 'sent') {
      this.lastWriteOkAt = Date.now();
      const now = performance.now();
      for (const record of batch) {
        if (record.settled) continue;
        record.settled = true;
        clearTimeout(record.timer);
        this.options.metrics.produceDuration.observe((now - record.queuedAt) / 1_000);
        record.resolve();
      }
      return;
    }

    this.lastWriteFailedAt = Date.now();
    const err = outcome.kind === 'failed' ? outcome.err : undefined;
    this.options.metrics.kafkaErrors.inc({
      kind: outcome.kind === 'failed' ? 'send_failed' : 'send_stalled',
    });
    this.logger.error(
      { err, records: batch.length, stall_timeout_ms: this.stallTimeoutMs },
      outcome.kind === 'failed'
        ? 'sending a batch to Kafka failed; replacing the producer'
        : 'sending a batch to Kafka stalled; replacing the producer',
    );
    for (const record of batch) {
      if (record.settled) continue;
      record.settled = true;
      clearTimeout(record.timer);
      record.reject(
        new ProduceError(
          GatewayErrorCodes.KAFKA_UNAVAILABLE,
          'sending the record to Kafka failed',
          {
            cause: err,
          },
        ),
      );
    }

    this.producer = undefined;
    void producer.disconnect().catch(() => {});
    if (outcome.kind === 'stalled') {
      // The stalled send may still finish through kafkajs's retries, which reconnect the
      // cluster; disconnect again once it settles so no connection stays open.
      void sending
        .then(
          () => producer.disconnect(),
          () => producer.disconnect(),
        )
        .catch(() => {});
    }
  }

  private async raceStall(sending: Promise<unknown>): Promise<SendOutcome> {
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<SendOutcome>((resolve) => {
      timer = setTimeout(() => resolve({ kind: 'stalled' }), this.stallTimeoutMs);
    });
    const settled = sending.then(
      (): SendOutcome => ({ kind: 'sent' }),
      (err: unknown): SendOutcome => ({ kind: 'failed', err }),
    );
    const outcome = await Promise.race([settled, stalled]);
    clearTimeout(timer);
    return outcome;
  }

  /**
   * Replaces the producer, retrying with exponential backoff until it connects. Returns false
   * when the batcher is closing and nothing is left to send.
   */
  private async reconnect(): Promise<boolean> {
    let delayMs = RECONNECT_INITIAL_DELAY_MS;
    for (;;) {
      if (this.closing && this.queuedRecords === 0) return false;

      const producer = this.options.createProducer();
      try {
        await producer.connect();
        this.producer = producer;
        this.logger.info('producer reconnected');
        return true;
      } catch (err) {
        this.options.metrics.kafkaErrors.inc({ kind: 'connect_failed' });
        this.logger.error({ err, retry_in_ms: delayMs }, 'connecting the Kafka producer failed');
        void producer.disconnect().catch(() => {});
      }

      await this.waitForWake(delayMs);
      delayMs = Math.min(delayMs * 2, RECONNECT_MAX_DELAY_MS);
    }
  }

  private async disconnectProducer(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    if (!producer) return;
    try {
      await producer.disconnect();
    } catch (err) {
      this.logger.warn({ err }, 'disconnecting the Kafka producer failed');
    }
  }
}
