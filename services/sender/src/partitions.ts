import kafkajs from 'kafkajs';

// kafkajs is CommonJS; Node cannot see every named export, so values come from the default.
const { Partitioners } = kafkajs;

const partitioner = Partitioners.DefaultPartitioner();

/**
 * Maps keys to partitions with the Java-compatible murmur2 partitioner that every ig-router
 * producer uses, so the sender knows which `ig.outbound` partition, and therefore which
 * instance, owns an account. `ig.outbound`, `ig.outbound.results` and `ig.circuit` have the same
 * partition count, so an account has the same partition number in all three.
 */
export class PartitionMap {
  private readonly cache = new Map<string, number>();
  private readonly metadata: Array<{ partitionId: number; leader: number }>;

  constructor(readonly partitionCount: number) {
    this.metadata = Array.from({ length: partitionCount }, (_, partitionId) => ({
      partitionId,
      leader: 0,
    }));
  }

  partitionOf(igBusinessId: string): number {
    let partition = this.cache.get(igBusinessId);
    if (partition === undefined) {
      partition = partitioner({
        topic: 'ig.outbound',
        partitionMetadata: this.metadata as never,
        message: { key: igBusinessId, value: null },
      });
      if (this.cache.size > 100_000) this.cache.clear();
      this.cache.set(igBusinessId, partition);
    }
    return partition;
  }
}
