import { createIdempotentProducer, createMetricsRegistry } from '@ig-router/core';
import { captureLogger, createTestTopics, type TestTopics } from '@ig-router/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatewayMetrics, ProduceBatcher, Readiness } from '../src/index.js';

describe('Readiness', () => {
  let topics: TestTopics;
  let batcher: ProduceBatcher;
  const readinessChecks: Readiness[] = [];
  const metrics = createGatewayMetrics(createMetricsRegistry('gateway'));
  const { logger } = captureLogger('gateway');

  beforeAll(async () => {
    topics = await createTestTopics('readiness', 1);
    batcher = new ProduceBatcher({
      topic: topics.names.raw,
      createProducer: () => createIdempotentProducer(topics.kafka),
      lingerMs: 2,
      maxBatchRecords: 500,
      maxBatchBytes: 1024 * 1024,
      maxQueuedBytes: 64 * 1024 * 1024,
      produceTimeoutMs: 5_000,
      logger,
      metrics,
    });
    await batcher.start();
  });

  afterAll(async () => {
    for (const readiness of readinessChecks) await readiness.close();
    await batcher?.close();
    await topics?.cleanup();
  });

  function readiness(topic: string, freshnessMs: number): Readiness {
    const check = new Readiness({
      batcher,
      kafka: topics.kafka,
      topic,
      logger,
      metrics,
      freshnessMs,
      probeTimeoutMs: 3_000,
      probeCacheMs: 0,
    });
    readinessChecks.push(check);
    return check;
  }

  it('is ready after a recent successful write', async () => {
    await batcher.produce({ key: 'k', value: Buffer.from('ready') });
    expect(await readiness(topics.names.raw, 60_000).check()).toEqual({ ready: true });
  });

  it('proves readiness with a metadata request when idle', async () => {
    expect(await readiness(topics.names.raw, 0).check()).toEqual({ ready: true });
  });

  it('is not ready when the metadata request fails', async () => {
    const missingTopic = `${topics.prefix}does-not-exist`;
    expect(await readiness(missingTopic, 0).check()).toEqual({
      ready: false,
      reason: 'kafka_probe_failed',
    });
  });

  it('is not ready once closing', async () => {
    const check = readiness(topics.names.raw, 60_000);
    await check.close();
    expect(await check.check()).toEqual({ ready: false, reason: 'closing' });
  });
});
