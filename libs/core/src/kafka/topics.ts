import kafkajs, { type Admin, type ITopicConfig } from 'kafkajs';
import { ErrorCodes, IgRouterError } from '../errors.js';

// kafkajs is CommonJS; Node cannot see every named export, so values come from the default.
const { ConfigResourceTypes } = kafkajs;

/** Logical topic names; the deployed name is `TOPIC_PREFIX` + the logical name. */
export const TopicNames = {
  raw: 'ig.raw',
  events: 'ig.events',
  unrouted: 'ig.events.unrouted',
  dlq: 'ig.dlq',
  outbound: 'ig.outbound',
  outboundResults: 'ig.outbound.results',
  circuit: 'ig.circuit',
} as const;

export type TopicKey = keyof typeof TopicNames;

export interface TopicSpec {
  key: TopicKey;
  name: string;
  partitions: number;
  replicationFactor: number;
  configs: Record<string, string>;
}

export interface TopicCatalogueOptions {
  prefix?: string;
  replicationFactor?: number;
  /** Retention of `ig.raw` in milliseconds; -1 keeps records forever. */
  rawRetentionMs?: number;
  /** Partitions of `ig.outbound` and `ig.circuit`, which must be equal. */
  outboundPartitions?: number;
  eventsPartitions?: number;
  rawPartitions?: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** Default retention of `ig.raw`: 400 days, so a full year of deliveries can be audited. */
export const DEFAULT_RAW_RETENTION_MS = 400 * DAY_MS;

/**
 * Builds the catalogue of every topic with its partition count and configs.
 * `ig.outbound` and `ig.circuit` share a partition count so one sender instance owns both the
 * commands and the circuit of an account.
 */
export function topicCatalogue(options: TopicCatalogueOptions = {}): TopicSpec[] {
  const prefix = options.prefix ?? '';
  const replicationFactor = options.replicationFactor ?? 1;
  const minInsync = String(Math.min(2, replicationFactor));
  const outboundPartitions = options.outboundPartitions ?? 12;
  const eventsPartitions = options.eventsPartitions ?? 12;
  const rawPartitions = options.rawPartitions ?? 6;
  const deleteTopic = (retentionMs: number): Record<string, string> => ({
    'cleanup.policy': 'delete',
    'retention.ms': String(retentionMs),
    'min.insync.replicas': minInsync,
  });

  const specs: Array<Omit<TopicSpec, 'name' | 'replicationFactor'>> = [
    {
      key: 'raw',
      partitions: rawPartitions,
      configs: {
        ...deleteTopic(options.rawRetentionMs ?? DEFAULT_RAW_RETENTION_MS),
        // Webhook bodies of several hundred KB have been seen; allow 8 MiB batches.
        'max.message.bytes': String(8 * 1024 * 1024),
      },
    },
    { key: 'events', partitions: eventsPartitions, configs: deleteTopic(30 * DAY_MS) },
    { key: 'unrouted', partitions: 3, configs: deleteTopic(30 * DAY_MS) },
    {
      key: 'dlq',
      partitions: 3,
      configs: { ...deleteTopic(30 * DAY_MS), 'max.message.bytes': String(8 * 1024 * 1024) },
    },
    { key: 'outbound', partitions: outboundPartitions, configs: deleteTopic(7 * DAY_MS) },
    { key: 'outboundResults', partitions: outboundPartitions, configs: deleteTopic(30 * DAY_MS) },
    {
      key: 'circuit',
      partitions: outboundPartitions,
      configs: {
        'cleanup.policy': 'compact',
        'min.insync.replicas': minInsync,
        'min.compaction.lag.ms': '0',
        'segment.ms': String(DAY_MS),
        'delete.retention.ms': String(DAY_MS),
      },
    },
  ];
  return specs.map((spec) => ({
    ...spec,
    name: `${prefix}${TopicNames[spec.key]}`,
    replicationFactor,
  }));
}

/** Resolves deployed topic names for a prefix, for code that only needs the names. */
export function topicNames(prefix = ''): Record<TopicKey, string> {
  const names = {} as Record<TopicKey, string>;
  for (const key of Object.keys(TopicNames) as TopicKey[]) {
    names[key] = `${prefix}${TopicNames[key]}`;
  }
  return names;
}

export interface TopicChange {
  topic: string;
  config: string;
  from: string | undefined;
  to: string;
}

export interface PartitionMismatch {
  topic: string;
  expected: number;
  actual: number;
}

export interface ApplyTopicsReport {
  created: string[];
  updated: TopicChange[];
  unchanged: string[];
  partitionMismatches: PartitionMismatch[];
}

export class TopicPartitionMismatchError extends IgRouterError {
  readonly mismatches: PartitionMismatch[];

  constructor(mismatches: PartitionMismatch[]) {
    const list = mismatches
      .map((m) => `${m.topic} has ${m.actual} partitions, the catalogue expects ${m.expected}`)
      .join('; ');
    super(
      ErrorCodes.TOPIC_PARTITION_MISMATCH,
      `Partition counts differ from the topic catalogue: ${list}. Changing the partition count moves keys to other partitions, so ig-router does not do it; recreate the topic or set the partition variables to the actual counts.`,
    );
    this.mismatches = mismatches;
  }
}

/**
 * Creates missing topics and sets the catalogue's configs on existing ones. Running it twice
 * changes nothing the second time. A partition count that differs from the catalogue is
 * reported, never changed, because adding partitions moves keys and breaks per-account order.
 */
export async function applyTopics(admin: Admin, specs: TopicSpec[]): Promise<ApplyTopicsReport> {
  // A broker under load can answer UNKNOWN_TOPIC_OR_PARTITION for a topic it created moments
  // ago; such retriable errors are retried a few times, and the run is idempotent.
  for (let attempt = 1; ; attempt++) {
    try {
      const report = await applyTopicsOnce(admin, specs);
      await waitForPartitionLeaders(admin, report.created);
      return report;
    } catch (err) {
      const retriable = (err as { retriable?: boolean }).retriable === true;
      if (!retriable || attempt >= 5) throw err;
      await new Promise((resolveWait) => setTimeout(resolveWait, 250 * attempt));
    }
  }
}

/** Waits until every partition of the given topics has a leader, for at most 10 s. */
async function waitForPartitionLeaders(admin: Admin, topics: string[]): Promise<void> {
  if (topics.length === 0) return;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const metadata = await admin.fetchTopicMetadata({ topics }).catch(() => undefined);
    const ready =
      metadata !== undefined &&
      metadata.topics.length === topics.length &&
      metadata.topics.every((topic) => topic.partitions.every((p) => p.leader >= 0));
    if (ready || Date.now() > deadline) return;
    await new Promise((resolveWait) => setTimeout(resolveWait, 100));
  }
}

async function applyTopicsOnce(admin: Admin, specs: TopicSpec[]): Promise<ApplyTopicsReport> {
  const report: ApplyTopicsReport = {
    created: [],
    updated: [],
    unchanged: [],
    partitionMismatches: [],
  };
  const existing = new Set(await admin.listTopics());

  const missing = specs.filter((spec) => !existing.has(spec.name));
  if (missing.length > 0) {
    const topics: ITopicConfig[] = missing.map((spec) => ({
      topic: spec.name,
      numPartitions: spec.partitions,
      replicationFactor: spec.replicationFactor,
      configEntries: Object.entries(spec.configs).map(([name, value]) => ({ name, value })),
    }));
    await admin.createTopics({ topics, waitForLeaders: true });
    report.created.push(...missing.map((spec) => spec.name));
  }

  const present = specs.filter((spec) => existing.has(spec.name));
  if (present.length === 0) return report;

  const metadata = await admin.fetchTopicMetadata({ topics: present.map((spec) => spec.name) });
  const partitionsByTopic = new Map(metadata.topics.map((t) => [t.name, t.partitions.length]));
  const described = await admin.describeConfigs({
    includeSynonyms: false,
    resources: present.map((spec) => ({
      type: ConfigResourceTypes.TOPIC,
      name: spec.name,
      configNames: Object.keys(spec.configs),
    })),
  });
  const configsByTopic = new Map(
    described.resources.map((resource) => [
      resource.resourceName,
      new Map(resource.configEntries.map((entry) => [entry.configName, entry.configValue])),
    ]),
  );

  for (const spec of present) {
    const actualPartitions = partitionsByTopic.get(spec.name) ?? 0;
    if (actualPartitions !== spec.partitions) {
      report.partitionMismatches.push({
        topic: spec.name,
        expected: spec.partitions,
        actual: actualPartitions,
      });
    }

    const actual = configsByTopic.get(spec.name) ?? new Map<string, string>();
    const changes: TopicChange[] = [];
    for (const [config, value] of Object.entries(spec.configs)) {
      if (actual.get(config) !== value) {
        changes.push({ topic: spec.name, config, from: actual.get(config), to: value });
      }
    }
    if (changes.length === 0) {
      report.unchanged.push(spec.name);
      continue;
    }
    // The classic AlterConfigs request replaces every dynamic config of the topic, so the full
    // catalogue set is sent, not only the changed entries.
    await admin.alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: ConfigResourceTypes.TOPIC,
          name: spec.name,
          configEntries: Object.entries(spec.configs).map(([name, value]) => ({ name, value })),
        },
      ],
    });
    report.updated.push(...changes);
  }
  return report;
}
