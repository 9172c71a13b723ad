import { createIdempotentProducer, createTransactionalProducer } from '@ig-router/core';
import { createTestTopics, readTopic, type TestTopics, uniqueId } from '@ig-router/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Proves that kafkajs 2.2.4, unmaintained since 2023, still works against the pinned Kafka
 * broker for every feature ig-router relies on.
 */
describe('kafkajs against the pinned Kafka broker', () => {
  let topics: TestTopics;

  beforeAll(async () => {
    topics = await createTestTopics('kafka-compat');
  });

  afterAll(async () => {
    await topics.cleanup();
  });

  it('writes with the idempotent producer and acks=all', async () => {
    const producer = createIdempotentProducer(topics.kafka);
    await producer.connect();
    const metadata = await producer.sendBatch({
      acks: -1,
      topicMessages: [
        {
          topic: topics.names.raw,
          messages: Array.from({ length: 50 }, (_, i) => ({ key: `k${i % 5}`, value: `v${i}` })),
        },
      ],
    });
    await producer.disconnect();
    expect(metadata.every((m) => m.errorCode === 0)).toBe(true);

    const records = await readTopic(topics.kafka, topics.names.raw, {
      until: (r) => r.length >= 50,
    });
    expect(records).toHaveLength(50);
    const k0 = records.filter((r) => r.key === 'k0').map((r) => r.value?.toString());
    expect(k0).toEqual(['v0', 'v5', 'v10', 'v15', 'v20', 'v25', 'v30', 'v35', 'v40', 'v45']);
  });

  it('places keys with the Java-compatible murmur2 partitioner', async () => {
    const producer = createIdempotentProducer(topics.kafka);
    await producer.connect();
    const [result] = await producer.send({
      topic: topics.names.unrouted,
      acks: -1,
      messages: [{ key: '17841400000000001', value: 'x' }],
    });
    await producer.disconnect();
    // Java's DefaultPartitioner: toPositive(murmur2(utf8 key bytes)) % 3. Computed with
    // org.apache.kafka.common.utils.Utils.murmur2 for this key.
    expect(result?.partition).toBe(expectedJavaPartition('17841400000000001', 3));
  });

  it('commits outputs and consumer offsets together in a transaction', async () => {
    const groupId = uniqueId('tx-group');
    const input = topics.names.outbound;
    const output = topics.names.outboundResults;
    const seed = createIdempotentProducer(topics.kafka);
    await seed.connect();
    await seed.send({
      topic: input,
      acks: -1,
      messages: [
        { key: 'a', value: '1', partition: 0 },
        { key: 'b', value: '2', partition: 0 },
      ],
    });
    await seed.disconnect();

    const producer = createTransactionalProducer(topics.kafka, `${groupId}-${input}-0`);
    await producer.connect();

    // An aborted transaction must leave nothing visible to read_committed readers.
    const aborted = await producer.transaction();
    await aborted.send({ topic: output, messages: [{ key: 'a', value: 'aborted' }] });
    await aborted.abort();

    const consumer = topics.kafka.consumer({ groupId });
    await consumer.connect();
    await consumer.subscribe({ topic: input, fromBeginning: true });
    let processed = 0;
    await new Promise<void>((resolveRun, reject) => {
      consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ topic, partition, message }) => {
            const transaction = await producer.transaction();
            await transaction.send({
              topic: output,
              messages: [{ key: message.key, value: `out-${message.value?.toString()}` }],
            });
            await transaction.sendOffsets({
              consumerGroupId: groupId,
              topics: [
                {
                  topic,
                  partitions: [{ partition, offset: (BigInt(message.offset) + 1n).toString() }],
                },
              ],
            });
            await transaction.commit();
            processed += 1;
            if (processed === 2) resolveRun();
          },
        })
        .catch(reject);
    });
    await consumer.disconnect();
    await producer.disconnect();

    const offsets = await topics.admin.fetchOffsets({ groupId, topics: [input] });
    expect(offsets[0]?.partitions.find((p) => p.partition === 0)?.offset).toBe('2');

    const committed = await readTopic(topics.kafka, output, {
      until: (r) => r.length >= 2,
      timeoutMs: 5_000,
    });
    expect(committed.map((r) => r.value?.toString()).sort()).toEqual(['out-1', 'out-2']);
    const all = await readTopic(topics.kafka, output, {
      readUncommitted: true,
      until: (r) => r.length >= 3,
      timeoutMs: 5_000,
    });
    expect(all.map((r) => r.value?.toString()).sort()).toEqual(['aborted', 'out-1', 'out-2']);
  });

  it('reads a compacted topic with tombstones to its high watermark', async () => {
    const producer = createIdempotentProducer(topics.kafka);
    await producer.connect();
    await producer.send({
      topic: topics.names.circuit,
      acks: -1,
      messages: [
        { key: 'acct-1', value: JSON.stringify({ state: 'open' }), partition: 1 },
        { key: 'acct-2', value: JSON.stringify({ state: 'open' }), partition: 1 },
        { key: 'acct-1', value: JSON.stringify({ state: 'closed' }), partition: 1 },
        { key: 'acct-2', value: null, partition: 1 },
      ],
    });
    await producer.disconnect();

    const highWatermarks = await topics.admin.fetchTopicOffsets(topics.names.circuit);
    expect(highWatermarks.find((p) => p.partition === 1)?.high).toBe('4');

    const records = await readTopic(topics.kafka, topics.names.circuit, {
      until: (r) => r.length >= 4,
    });
    const state = new Map<string, string>();
    for (const record of records) {
      if (record.key === null) continue;
      if (record.value === null) state.delete(record.key);
      else state.set(record.key, record.value.toString());
    }
    expect(Object.fromEntries(state)).toEqual({ 'acct-1': '{"state":"closed"}' });
  });
});

/** Kafka's Java murmur2 (Utils.murmur2) and toPositive, written out independently of kafkajs. */
function expectedJavaPartition(key: string, partitions: number): number {
  const data = Buffer.from(key, 'utf8');
  const seed = 0x9747b28c;
  const m = 0x5bd1e995;
  const r = 24;
  const length = data.length;
  let h = seed ^ length;
  const length4 = Math.floor(length / 4);
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k =
      (data.readUInt8(i4) & 0xff) +
      ((data.readUInt8(i4 + 1) & 0xff) << 8) +
      ((data.readUInt8(i4 + 2) & 0xff) << 16) +
      ((data.readUInt8(i4 + 3) & 0xff) << 24);
    k = Math.imul(k, m);
    k ^= k >>> r;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const rest = length % 4;
  const base = length - rest;
  if (rest === 3) h ^= (data.readUInt8(base + 2) & 0xff) << 16;
  if (rest >= 2) h ^= (data.readUInt8(base + 1) & 0xff) << 8;
  if (rest >= 1) {
    h ^= data.readUInt8(base) & 0xff;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return (h & 0x7fffffff) % partitions;
}
