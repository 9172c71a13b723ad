import { captureLogger } from '@ig-router/testkit';
import { describe, expect, it } from 'vitest';
import { createIdempotentProducer, createKafka } from '../src/index.js';

describe('kafkajs log lines', () => {
  const retryWarning = 'Limiting retries for the idempotent producer may invalidate EoS guarantees';

  it('logs the retry limit warning at debug only', async () => {
    const captured = captureLogger('test', 'debug');
    const kafka = createKafka(
      { KAFKA_BROKERS: ['127.0.0.1:9'], KAFKA_SSL: false },
      'log-test',
      captured.logger,
    );
    createIdempotentProducer(kafka);
    await new Promise((resolve) => setImmediate(resolve));

    const lines = captured.records().filter((line) => line.msg === retryWarning);
    expect(lines).toHaveLength(1);
    expect(lines[0]?.level).toBe('debug');
  });
});
