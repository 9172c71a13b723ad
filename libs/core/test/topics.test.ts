import { createTestTopics, type TestTopics, uniqueId } from '@ig-router/testkit';
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyTopics, TopicPartitionMismatchError, topicCatalogue } from '../src/index.js';

const { ConfigResourceTypes } = kafkajs;

describe('applyTopics', () => {
  let topics: TestTopics;
  let prefix: string;

  beforeAll(async () => {
    topics = await createTestTopics('topics');
    prefix = `t.${uniqueId('catalogue')}.`;
  });

  afterAll(async () => {
    const names = topicCatalogue({ prefix }).map((spec) => spec.name);
    await topics.admin.deleteTopics({ topics: names }).catch(() => {});
    await topics.cleanup();
  });

  it('creates every catalogue topic with its configs', async () => {
    const specs = topicCatalogue({ prefix, rawRetentionMs: 123_456_789 });
    const report = await applyTopics(topics.admin, specs);
    expect(report.created.sort()).toEqual(specs.map((spec) => spec.name).sort());
    expect(report.partitionMismatches).toEqual([]);

    const existing = await topics.admin.listTopics();
    for (const name of [
      'ig.raw',
      'ig.events',
      'ig.events.unrouted',
      'ig.dlq',
      'ig.outbound',
      'ig.outbound.results',
      'ig.circuit',
    ]) {
      expect(existing).toContain(`${prefix}${name}`);
    }

    const described = await topics.admin.describeConfigs({
      includeSynonyms: false,
      resources: [
        { type: ConfigResourceTypes.TOPIC, name: `${prefix}ig.circuit` },
        { type: ConfigResourceTypes.TOPIC, name: `${prefix}ig.raw` },
      ],
    });
    const config = (topic: string, name: string) =>
      described.resources
        .find((r) => r.resourceName === topic)
        ?.configEntries.find((e) => e.configName === name)?.configValue;
    expect(config(`${prefix}ig.circuit`, 'cleanup.policy')).toBe('compact');
    expect(config(`${prefix}ig.raw`, 'cleanup.policy')).toBe('delete');
    expect(config(`${prefix}ig.raw`, 'retention.ms')).toBe('123456789');

    const metadata = await topics.admin.fetchTopicMetadata({
      topics: [`${prefix}ig.outbound`, `${prefix}ig.circuit`],
    });
    expect(metadata.topics.map((t) => t.partitions.length)).toEqual([12, 12]);
  });

  it('changes nothing when run a second time', async () => {
    const report = await applyTopics(
      topics.admin,
      topicCatalogue({ prefix, rawRetentionMs: 123_456_789 }),
    );
    expect(report.created).toEqual([]);
    expect(report.updated).toEqual([]);
    expect(report.unchanged).toHaveLength(7);
  });

  it('updates a changed config on an existing topic', async () => {
    const report = await applyTopics(
      topics.admin,
      topicCatalogue({ prefix, rawRetentionMs: 987_654_321 }),
    );
    expect(report.updated).toEqual([
      { topic: `${prefix}ig.raw`, config: 'retention.ms', from: '123456789', to: '987654321' },
    ]);
  });

  it('reports a partition-count mismatch without changing the topic', async () => {
    const report = await applyTopics(
      topics.admin,
      topicCatalogue({ prefix, rawRetentionMs: 987_654_321, eventsPartitions: 24 }),
    );
    expect(report.partitionMismatches).toEqual([
      { topic: `${prefix}ig.events`, expected: 24, actual: 12 },
    ]);
    const error = new TopicPartitionMismatchError(report.partitionMismatches);
    expect(error.code).toBe('TOPIC_PARTITION_MISMATCH');
    expect(error.message).toContain(`${prefix}ig.events has 12 partitions`);
  });
});
