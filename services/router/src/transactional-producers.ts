import { createTransactionalProducer, type Logger } from '@ig-router/core';
import type { Kafka, Producer } from 'kafkajs';

/** A transactional producer owned by one input partition. */
export interface PartitionProducer {
  transactionalId: string;
  producer: Producer;
  /**
   * False until the caller has checked the group's committed offset after this producer's
   * initialization; see `ConsumeRaw` for why that check is needed.
   */
  offsetChecked: boolean;
  /**
   * The next offset this producer's last committed transaction moved the group to. Records
   * below it are done, whatever offset the group reports while the transaction's markers are
   * still being written.
   */
  committedNext?: bigint;
}

export interface TransactionalProducersOptions {
  kafka: Kafka;
  /** Prefix of every transactional id: the consumer group id of the pipeline. */
  groupId: string;
  transactionTimeoutMs: number;
  logger: Logger;
}

/**
 * One transactional producer per assigned input partition, with the transactional id
 * `<group id>-<topic>-<partition>`. kafkajs 2.2.4 cannot send consumer-group metadata with
 * offsets (KIP-447), so a fixed id per partition is what fences a previous owner: initializing
 * the producer bumps the epoch, aborts the old owner's open transaction and makes its later
 * commits fail.
 */
export class TransactionalProducers {
  private readonly producers = new Map<string, Promise<PartitionProducer>>();

  constructor(private readonly options: TransactionalProducersOptions) {}

  transactionalId(topic: string, partition: number): string {
    return `${this.options.groupId}-${topic}-${partition}`;
  }

  /** Returns the partition's producer, creating and initializing it on first use. */
  acquire(topic: string, partition: number): Promise<PartitionProducer> {
    const key = this.transactionalId(topic, partition);
    let pending = this.producers.get(key);
    if (!pending) {
      pending = this.create(topic, partition);
      this.producers.set(key, pending);
      // A failed creation is not kept, so the next acquire tries again.
      pending.catch(() => {
        if (this.producers.get(key) === pending) this.producers.delete(key);
      });
    }
    return pending;
  }

  /** Disconnects the partition's producer, so the next `acquire` creates one and fences again. */
  async discard(topic: string, partition: number): Promise<void> {
    const key = this.transactionalId(topic, partition);
    const pending = this.producers.get(key);
    if (!pending) return;
    this.producers.delete(key);
    await this.disconnect(pending, key);
  }

  /** Disconnects the producers of partitions that are no longer assigned to this member. */
  async retainOnly(assignment: Record<string, number[]>): Promise<void> {
    const keep = new Set<string>();
    for (const [topic, partitions] of Object.entries(assignment)) {
      for (const partition of partitions) keep.add(this.transactionalId(topic, partition));
    }
    const revoked = [...this.producers.entries()].filter(([key]) => !keep.has(key));
    for (const [key] of revoked) this.producers.delete(key);
    await Promise.all(revoked.map(([key, pending]) => this.disconnect(pending, key)));
  }

  async closeAll(): Promise<void> {
    const all = [...this.producers.entries()];
    this.producers.clear();
    await Promise.all(all.map(([key, pending]) => this.disconnect(pending, key)));
  }

  private async create(topic: string, partition: number): Promise<PartitionProducer> {
    const transactionalId = this.transactionalId(topic, partition);
    const producer = createTransactionalProducer(this.options.kafka, transactionalId, {
      transactionTimeout: this.options.transactionTimeoutMs,
    });
    await producer.connect();
    try {
      // kafkajs sends InitProducerId on the first transaction. Beginning and aborting an empty
      // one does that now, so fencing happens on assignment and not in the middle of a batch.
      // The broker returns only once a transaction left open by a previous owner is finished.
      const transaction = await producer.transaction();
      await transaction.abort();
    } catch (err) {
      await producer.disconnect().catch(() => {});
      throw err;
    }
    this.options.logger.info(
      { topic, partition, transactional_id: transactionalId },
      'transactional producer ready',
    );
    return { transactionalId, producer, offsetChecked: false };
  }

  private async disconnect(pending: Promise<PartitionProducer>, key: string): Promise<void> {
    try {
      const { producer } = await pending;
      await producer.disconnect();
      this.options.logger.info({ transactional_id: key }, 'transactional producer closed');
    } catch (err) {
      this.options.logger.warn(
        { err, transactional_id: key },
        'closing a transactional producer failed',
      );
    }
  }
}
