import { createIdempotentProducer, createMetricsRegistry } from '@ig-router/core';
import { captureLogger, createTestTopics, readTopic, type TestTopics } from '@ig-router/testkit';
import type { Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatewayMetrics, ProduceBatcher, type ProduceBatcherOptions } from '../src/index.js';

/** Counts sendBatch calls on a real producer and the most that ever ran at once. */
class SendBatchProbe {
  calls: number[] = [];
  inFlight = 0;
  maxInFlight = 0;

  wrap(producer: Producer): Producer {
    const original = producer.sendBatch.bind(producer);
    producer.sendBatch = async (batch) => {
      this.inFlight += 1;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      this.calls.push(batch.topicMessages?.[0]?.messages.length ?? 0);
      try {
        return await original(batch);
      } finally {
        this.inFlight -= 1;
      }
    };
    return producer;
  }
}

describe('ProduceBatcher', () => {
  let topics: TestTopics;
  const batchers: ProduceBatcher[] = [];

  beforeAll(async () => {
    topics = await createTestTopics('batcher', 3);
  });

  afterAll(async () => {
    for (const batcher of batchers) await batcher.close();
    await topics?.cleanup();
  });

  async function startBatcher(
    probe: SendBatchProbe,
    overrides: Partial<ProduceBatcherOptions> = {},
  ): Promise<ProduceBatcher> {
    const batcher = new ProduceBatcher({
      topic: topics.names.raw,
      createProducer: () => probe.wrap(createIdempotentProducer(topics.kafka)),
      lingerMs: 2,
      maxBatchRecords: 500,
      maxBatchBytes: 1024 * 1024,
      maxQueuedBytes: 64 * 1024 * 1024,
      produceTimeoutMs: 10_000,
      logger: captureLogger('gateway').logger,
      metrics: createGatewayMetrics(createMetricsRegistry('gateway')),
      ...overrides,
    });
    batchers.push(batcher);
    await batcher.start();
    return batcher;
  }

  const message = (key: string, value: string) => ({ key, value: Buffer.from(value) });

  it('sends concurrent records in one sendBatch', async () => {
    const probe = new SendBatchProbe();
    const batcher = await startBatcher(probe);
    const results = Array.from({ length: 50 }, (_, i) =>
      batcher.produce(message('one-batch', `one-batch-${i}`)),
    );
    await Promise.all(results);
    expect(probe.calls).toEqual([50]);
  });

  it('splits batches at the record and byte limits', async () => {
    const byRecords = new SendBatchProbe();
    const recordLimited = await startBatcher(byRecords, { maxBatchRecords: 10 });
    await Promise.all(
      Array.from({ length: 45 }, (_, i) => recordLimited.produce(message('records', `r-${i}`))),
    );
    expect(byRecords.calls).toEqual([10, 10, 10, 10, 5]);

    const byBytes = new SendBatchProbe();
    const byteLimited = await startBatcher(byBytes, { maxBatchBytes: 32 * 1024 });
    const tenKib = 'x'.repeat(10 * 1024);
    await Promise.all(
      Array.from({ length: 10 }, (_, i) => byteLimited.produce(message('bytes', `${i}${tenKib}`))),
    );
    expect(byBytes.calls).toEqual([3, 3, 3, 1]);
  });

  it('keeps one send in flight and the order of each key', async () => {
    const probe = new SendBatchProbe();
    const batcher = await startBatcher(probe, { maxBatchRecords: 7, lingerMs: 0 });
    const sent: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) {
      sent.push(batcher.produce(message(`order-${i % 4}`, `order-${i % 4}-${i}`)));
      if (i % 13 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(sent);
    expect(probe.maxInFlight).toBe(1);

    const records = await readTopic(topics.kafka, topics.names.raw, {
      until: (read) => read.filter((r) => r.key?.startsWith('order-')).length >= 200,
    });
    for (let key = 0; key < 4; key++) {
      const values = records
        .filter((r) => r.key === `order-${key}`)
        .map((r) => Number(r.value?.toString().split('-')[2]));
      expect(values).toHaveLength(50);
      expect(values).toEqual([...values].sort((a, b) => a - b));
    }
  });

  it('rejects records once the queue is full', async () => {
    const probe = new SendBatchProbe();
    // A linger longer than the test keeps every record queued until close.
    const batcher = await startBatcher(probe, { lingerMs: 60_000, maxQueuedBytes: 3_000 });
    const accepted = [
      batcher.produce(message('full', 'a'.repeat(1_000))),
      batcher.produce(message('full', 'b'.repeat(1_000))),
    ];
    await expect(batcher.produce(message('full', 'c'.repeat(1_000)))).rejects.toMatchObject({
      code: 'PRODUCE_QUEUE_FULL',
    });

    await batcher.close();
    await Promise.all(accepted);
    expect(probe.calls).toEqual([2]);
  });

  it('flushes queued records on close and then rejects new ones', async () => {
    const probe = new SendBatchProbe();
    const batcher = await startBatcher(probe, { lingerMs: 60_000 });
    const queued = Array.from({ length: 20 }, (_, i) =>
      batcher.produce(message('close', `close-${i}`)),
    );
    await batcher.close();
    await Promise.all(queued);
    expect(probe.calls).toEqual([20]);
    await expect(batcher.produce(message('close', 'late'))).rejects.toMatchObject({
      code: 'GATEWAY_CLOSING',
    });
  });
});
