import { createTestTopics, eventually, type TestTopics, uniqueId } from '@ig-router/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { watchConsumerReadiness } from '../src/index.js';

describe('watchConsumerReadiness', () => {
  let topics: TestTopics;

  beforeAll(async () => {
    topics = await createTestTopics('readiness', 1);
  });

  afterAll(async () => {
    await topics.cleanup();
  });

  it('is ready from the group join until the consumer disconnects', async () => {
    const consumer = topics.kafka.consumer({ groupId: uniqueId('readiness') });
    const ready = watchConsumerReadiness(consumer);
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [topics.names.outbound] });
      expect(ready()).toBe(false);

      await consumer.run({ eachMessage: async () => {} });
      await eventually('the consumer to join its group', () => ready());
      expect(ready()).toBe(true);
    } finally {
      await consumer.disconnect();
    }
    expect(ready()).toBe(false);
  });
});
