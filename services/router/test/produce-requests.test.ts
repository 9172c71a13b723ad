import kafkajs, { type Admin, type Message } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { messageSize, ProduceRequestPlanner } from '../src/produce-requests.js';

/** An admin client that implements only fetchTopicMetadata, with `partitions` partitions per topic. */
function metadataOnlyAdmin(partitions: number): Admin {
  return {
    fetchTopicMetadata: async ({ topics }: { topics: string[] }) => ({
      topics: topics.map((name) => ({
        name,
        partitions: Array.from({ length: partitions }, (_, partitionId) => ({
          partitionId,
          leader: 0,
          replicas: [0],
          isr: [0],
          offlineReplicas: [],
          partitionErrorCode: 0,
        })),
      })),
    }),
  } as unknown as Admin;
}

const { Partitioners } = kafkajs;

/** Returns one key for each of `partitions` partitions, as the murmur2 partitioner places them. */
function keyPerPartition(partitions: number): string[] {
  const partitioner = Partitioners.DefaultPartitioner();
  const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({
    partitionId,
    leader: 0,
    replicas: [0],
    isr: [0],
    partitionErrorCode: 0,
  }));
  const keys = new Map<number, string>();
  for (let index = 1; keys.size < partitions; index += 1) {
    const key = `178414000000${String(index).padStart(5, '0')}`;
    const partition = partitioner({
      topic: 'events',
      partitionMetadata,
      message: { key, value: null },
    });
    if (!keys.has(partition)) keys.set(partition, key);
  }
  return [...keys.values()];
}

const message = (key: string | null, bytes: number): Message => ({ key, value: 'x'.repeat(bytes) });

describe('ProduceRequestPlanner', () => {
  it('bounds bytes per partition, not per request', async () => {
    const planner = new ProduceRequestPlanner(metadataOnlyAdmin(3), ['events'], 10_000);
    await planner.refresh();
    const keys = keyPerPartition(3);
    const messages = keys.flatMap((key) => [message(key, 4_000), message(key, 4_000)]);

    const requests = [...planner.plan(messages.map((m) => ({ topic: 'events', message: m })))];

    expect(requests).toHaveLength(1);
    expect(requests[0]?.[0]?.messages).toHaveLength(6);
  });

  it('starts a new request before one partition passes the limit, keeping order', async () => {
    const planner = new ProduceRequestPlanner(metadataOnlyAdmin(3), ['events'], 10_000);
    await planner.refresh();
    const messages = [1, 2, 3, 4, 5].map((index) => ({
      topic: 'events',
      message: { key: '17841400000000001', value: `${index}`.padEnd(3_000, 'x') },
    }));

    const requests = [...planner.plan(messages)];

    expect(requests.map((request) => request[0]?.messages.length)).toEqual([3, 2]);
    expect(
      requests.flatMap((request) => request[0]?.messages.map((m) => String(m.value)[0])),
    ).toEqual(['1', '2', '3', '4', '5']);
    for (const request of requests) {
      const bytes = (request[0]?.messages ?? []).reduce((sum, m) => sum + messageSize(m), 0);
      expect(bytes).toBeLessThanOrEqual(10_000);
    }
  });

  it('counts a message without key against every partition', async () => {
    const planner = new ProduceRequestPlanner(metadataOnlyAdmin(3), ['dlq'], 10_000);
    await planner.refresh();
    const messages = [message(null, 6_000), message(null, 6_000)].map((m) => ({
      topic: 'dlq',
      message: m,
    }));

    expect([...planner.plan(messages)]).toHaveLength(2);
  });

  it('sends one message larger than the limit on its own', async () => {
    const planner = new ProduceRequestPlanner(metadataOnlyAdmin(1), ['events'], 10_000);
    await planner.refresh();
    const messages = [message('1', 100), message('1', 20_000), message('1', 100)].map((m) => ({
      topic: 'events',
      message: m,
    }));

    expect([...planner.plan(messages)].map((request) => request[0]?.messages.length)).toEqual([
      1, 1, 1,
    ]);
  });
});
