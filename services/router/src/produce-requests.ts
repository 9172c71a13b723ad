import kafkajs, {
  type Admin,
  type Message,
  type PartitionMetadata,
  type TopicMessages,
} from 'kafkajs';

// kafkajs is CommonJS; Node cannot see every named export, so values come from the default.
const { Partitioners } = kafkajs;

/** A message and the deployed name of the topic it goes to. */
export interface OutboundMessage {
  topic: string;
  message: Message;
}

/**
 * Groups messages into produce requests. kafkajs writes all messages of one partition in a
 * request as one record batch, and the broker rejects a batch above the topic's
 * `max.message.bytes` (1 MiB by default), so the bytes per partition and request are bounded,
 * not the request. Partitions are computed with the same murmur2 partitioner the producer uses.
 * A message without a key may go to any partition, so it counts against all of them.
 */
export class ProduceRequestPlanner {
  private readonly partitionsByTopic = new Map<string, PartitionMetadata[]>();
  private readonly partitioner = Partitioners.DefaultPartitioner();

  constructor(
    private readonly admin: Admin,
    private readonly topics: string[],
    private readonly maxBytesPerPartition: number,
  ) {}

  /** Reads the partition counts of the output topics. */
  async refresh(): Promise<void> {
    const metadata = await this.admin.fetchTopicMetadata({ topics: this.topics });
    for (const topic of metadata.topics) {
      const partitions = topic.partitions.map((partition) => ({
        partitionId: partition.partitionId,
        leader: Math.max(partition.leader, 0),
        replicas: partition.replicas,
        isr: partition.isr,
        offlineReplicas: partition.offlineReplicas ?? [],
        partitionErrorCode: 0,
      }));
      this.partitionsByTopic.set(topic.name, partitions);
    }
  }

  /** Yields requests in message order; a topic with unknown partitions counts as one partition. */
  *plan(messages: OutboundMessage[]): Generator<TopicMessages[]> {
    let request = new Map<string, Message[]>();
    let bytesByPartition = new Map<string, number>();
    for (const { topic, message } of messages) {
      const size = messageSize(message);
      const keys = this.partitionKeys(topic, message);
      const overflows = keys.some(
        (key) => (bytesByPartition.get(key) ?? 0) + size > this.maxBytesPerPartition,
      );
      if (overflows && request.size > 0) {
        yield toTopicMessages(request);
        request = new Map();
        bytesByPartition = new Map();
      }

      let topicMessages = request.get(topic);
      if (!topicMessages) {
        topicMessages = [];
        request.set(topic, topicMessages);
      }
      topicMessages.push(message);
      for (const key of keys) bytesByPartition.set(key, (bytesByPartition.get(key) ?? 0) + size);
    }
    if (request.size > 0) yield toTopicMessages(request);
  }

  private partitionKeys(topic: string, message: Message): string[] {
    const partitionMetadata = this.partitionsByTopic.get(topic);
    if (!partitionMetadata || partitionMetadata.length === 0) return [topic];
    if (message.key === null || message.key === undefined) {
      return partitionMetadata.map((partition) => `${topic}|${partition.partitionId}`);
    }
    const partition = this.partitioner({ topic, partitionMetadata, message });
    return [`${topic}|${partition}`];
  }
}

/** Estimates the bytes a message adds to a record batch: key, value, headers and framing. */
export function messageSize(message: Message): number {
  let size = 70;
  size += byteLength(message.key);
  size += byteLength(message.value);
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    size += name.length + 8;
    if (Array.isArray(value)) {
      for (const element of value) size += byteLength(element);
    } else {
      size += byteLength(value);
    }
  }
  return size;
}

function byteLength(value: string | Buffer | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'string' ? Buffer.byteLength(value) : value.length;
}

function toTopicMessages(request: Map<string, Message[]>): TopicMessages[] {
  return [...request.entries()].map(([topic, messages]) => ({ topic, messages }));
}
