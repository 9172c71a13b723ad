import {
  databaseEnvSchema,
  envBoolean,
  envInt,
  kafkaEnvSchema,
  loggingEnvSchema,
} from '@ig-router/core';
import { z } from 'zod';

/**
 * Environment of the router service. Durations are in milliseconds, sizes in bytes.
 * The router never decrypts tokens, so it needs no KMS settings.
 */
export const routerConfigSchema = z.object({
  ...kafkaEnvSchema.shape,
  ...databaseEnvSchema.shape,
  ...loggingEnvSchema.shape,

  METRICS_HOST: z.string().min(1).default('0.0.0.0'),
  /** Port of `/metrics`, `/healthz` and `/readyz`, or 0 to disable the metrics server. */
  METRICS_PORT: envInt(9102, 0, 65_535),

  /** Consumer group of the `ig.raw` pipeline, which is also the prefix of its transactional ids. */
  ROUTER_GROUP_ID: z.string().min(1).default('ig-router'),
  /** Consumer group of the projector, which reads `ig.events` and `ig.outbound.results`. */
  PROJECTOR_GROUP_ID: z.string().min(1).default('ig-router-projector'),
  ROUTER_ENABLED: envBoolean(true),
  PROJECTOR_ENABLED: envBoolean(true),
  /**
   * Start position of a group without committed offsets. The default is the beginning, so
   * deliveries stored before the first router started are still routed.
   */
  ROUTER_FROM_BEGINNING: envBoolean(true),

  /** Time an account lookup stays cached when no change notification evicts it first. */
  ACCOUNT_CACHE_TTL_MS: envInt(30_000, 0, 24 * 60 * 60 * 1000),
  /** Maximum `ig.raw` records whose outputs and offset commit in one Kafka transaction. */
  ROUTER_MAX_RECORDS_PER_TRANSACTION: envInt(1_000, 1, 100_000),
  /**
   * Maximum bytes of outputs per partition in one produce request. Kafka rejects a record batch
   * above the topic's `max.message.bytes` (1 MiB by default), so this stays below it.
   */
  ROUTER_MAX_SEND_BYTES: envInt(900_000, 10_000, 100 * 1024 * 1024),
  /**
   * Bytes of `ig.raw` fetched per partition and request, which bounds the records one
   * transaction can take. A record larger than this is still fetched on its own.
   */
  ROUTER_FETCH_MAX_BYTES_PER_PARTITION: envInt(4 * 1024 * 1024, 64 * 1024, 64 * 1024 * 1024),
  /** `ig.raw` partitions processed at the same time by one instance. */
  ROUTER_PARTITIONS_CONCURRENCY: envInt(3, 1, 64),
  /** Maximum age of an open transaction, after which the broker aborts it. */
  ROUTER_TRANSACTION_TIMEOUT_MS: envInt(60_000, 1_000, 15 * 60 * 1000),
  /** First and maximum delay between retries of a partition after a failure. */
  ROUTER_RETRY_INITIAL_MS: envInt(200, 1, 60_000),
  ROUTER_RETRY_MAX_MS: envInt(10_000, 1, 10 * 60 * 1000),
  /** Consumer session timeout of both groups: a member silent this long loses its partitions. */
  CONSUMER_SESSION_TIMEOUT_MS: envInt(30_000, 6_000, 30 * 60 * 1000),
  /**
   * Maximum time a fetch waits for new records. It also bounds how long a paused partition
   * waits after its resume and how long a stop waits for the fetch in flight.
   */
  CONSUMER_MAX_WAIT_MS: envInt(500, 10, 30_000),
  DATABASE_POOL_MAX: envInt(5, 1, 100),
});

export type RouterConfig = z.output<typeof routerConfigSchema>;
