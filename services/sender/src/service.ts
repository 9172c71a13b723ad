import type { Server } from 'node:http';
import type { KMSClient } from '@aws-sdk/client-kms';
import {
  AccountChangeListener,
  createDatabase,
  createIdempotentProducer,
  createKafka,
  createKmsClient,
  createLogger,
  GraphClient,
  type Logger,
  startMetricsServer,
  TokenCrypto,
  TopicPartitionMismatchError,
  topicNames,
} from '@ig-router/core';
import { CircuitBreakers } from './circuit-store.js';
import type { SenderConfig } from './config.js';
import { OutboundConsumer } from './consume-outbound.js';
import { SenderMetrics } from './metrics.js';
import { ParkingLot } from './parking.js';
import { PartitionMap } from './partitions.js';
import { RateLimiter } from './rate-limit.js';
import { RecordWriter } from './record-writer.js';
import { PartitionLoader } from './recover.js';
import { ResultPublisher } from './results.js';
import { CommandProcessor } from './send.js';
import { SendsStore } from './sends-table.js';
import { AccountTokens } from './tokens.js';
import { TopicTail } from './topic-reader.js';

export interface SenderDeps {
  logger?: Logger;
  /** Replaces the Graph client built from GRAPH_API_URL, for tests. */
  graph?: GraphClient;
  kms?: KMSClient;
  clock?: () => number;
  /** Source of jitter in [0, 1). */
  random?: () => number;
}

export interface RunningSender {
  metrics: SenderMetrics;
  /** Stops consuming, lets started commands finish, and closes every client. */
  stop(): Promise<void>;
}

/**
 * Starts the sender: `ig.outbound` → Send API → `ig.outbound.results`, with per-account rate
 * limits and circuit breakers kept in `ig.circuit`. Resolves once the consumer has started.
 */
export async function startSender(
  config: SenderConfig,
  deps: SenderDeps = {},
): Promise<RunningSender> {
  const logger = deps.logger ?? createLogger({ service: 'sender', level: config.LOG_LEVEL });
  const clock = deps.clock ?? Date.now;
  const random = deps.random ?? Math.random;
  const topics = topicNames(config.TOPIC_PREFIX);
  const closers: Array<() => Promise<unknown> | unknown> = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch (err) {
        logger.warn({ err }, 'closing a sender component failed');
      }
    }
  };

  try {
    const database = createDatabase(config, config.DATABASE_POOL_MAX);
    closers.push(() => database.close());
    const kafka = createKafka(config, 'ig-router-sender', logger);
    const admin = kafka.admin();
    await admin.connect();
    closers.push(() => admin.disconnect());
    const partitions = new PartitionMap(await matchingPartitionCount(admin, topics));

    const metrics = new SenderMetrics();
    const producer = createIdempotentProducer(kafka);
    await producer.connect();
    closers.push(() => producer.disconnect());
    const writer = new RecordWriter(producer, logger);
    closers.push(() => writer.stop());

    const graph =
      deps.graph ??
      new GraphClient({
        baseUrl: config.GRAPH_API_URL,
        version: config.GRAPH_API_VERSION,
        timeoutMs: config.GRAPH_TIMEOUT_MS,
        connections: config.GRAPH_CONNECTIONS,
        onCall: (event) => metrics.graphCall(event),
      });
    if (!deps.graph) closers.push(() => graph.close());

    const kms = deps.kms ?? createKmsClient(config);
    const tokens = new AccountTokens(
      database.db,
      new TokenCrypto(kms, config.KMS_KEY_ID),
      config.TOKEN_CACHE_TTL_MS,
      logger,
      clock,
    );
    closers.push(() => tokens.close());
    const accountChanges = new AccountChangeListener(config.DATABASE_URL, logger);
    await accountChanges.start();
    closers.push(() => accountChanges.stop());
    tokens.attach(accountChanges);

    const circuits = new CircuitBreakers(
      {
        failureThreshold: config.CIRCUIT_FAILURE_THRESHOLD,
        cooldownMs: config.CIRCUIT_COOLDOWN_MS,
        maxCooldownMs: config.CIRCUIT_MAX_COOLDOWN_MS,
        permissionCooldownMs: config.PERMISSION_COOLDOWN_MS,
        throttleBackoffMs: config.THROTTLE_BACKOFF_MS,
        random,
      },
      writer,
      topics.circuit,
      partitions,
      metrics,
      logger,
      clock,
    );
    closers.push(() => circuits.stop());
    const circuitTail = new TopicTail(
      kafka,
      admin,
      topics.circuit,
      config.SENDER_GROUP_ID,
      (partition, message) => circuits.applyRecord(partition, message),
      logger,
    );
    await circuitTail.start();
    closers.push(() => circuitTail.stop());

    const sends = new SendsStore(database.db);
    const results = new ResultPublisher(
      writer,
      database.db,
      topics.outboundResults,
      metrics,
      logger,
    );
    closers.push(() => results.flush());
    const parking = new ParkingLot(
      sends,
      circuits,
      writer,
      results,
      {
        outboundTopic: topics.outbound,
        resumeBatchSize: config.RESUME_BATCH_SIZE,
        sweepIntervalMs: config.PARKED_SWEEP_INTERVAL_MS,
        parkedMaxAgeMs: config.PARKED_MAX_AGE_MS,
      },
      logger,
      clock,
    );
    parking.start();
    closers.push(() => parking.stop());
    metrics.observe(
      () => circuits.ownedStates(),
      () => parking.parkedCount(),
    );

    accountChanges.on('change', (change) => {
      const igBusinessId = change.ig_business_id;
      if (!circuits.owns(igBusinessId)) return;
      if (change.op === 'delete') {
        circuits.remove(igBusinessId).catch((err: unknown) => {
          logger.error({ ig_business_id: igBusinessId, err }, 'writing a circuit tombstone failed');
        });
        parking.reconsider(igBusinessId, true);
        return;
      }
      if (!change.active) {
        parking.reconsider(igBusinessId, true);
        return;
      }
      circuits.apply(igBusinessId, { type: 'token_replaced' }).catch((err: unknown) => {
        logger.error({ ig_business_id: igBusinessId, err }, 'writing a circuit state failed');
      });
    });
    accountChanges.on('resync', () => {
      // Notifications sent while the listener was disconnected are lost, so a token may have
      // been replaced: probe every circuit waiting for one.
      for (const state of circuits.ownedStates()) {
        if (state.reason !== 'auth' && state.reason !== 'permission') continue;
        void circuits.apply(state.ig_business_id, { type: 'token_replaced' }).catch(() => {});
      }
    });

    const loader = new PartitionLoader({
      kafka,
      admin,
      db: database.db,
      circuitTail,
      circuits,
      parking,
      results,
      partitions,
      resultsTopic: topics.outboundResults,
      groupIdBase: config.SENDER_GROUP_ID,
      logger,
    });
    const processor = new CommandProcessor({
      db: database.db,
      sends,
      graph,
      tokens,
      rateLimiter: new RateLimiter({
        ratePerSecond: config.RATE_LIMIT_PER_SECOND,
        slowdownPercent: config.USAGE_SLOWDOWN_PERCENT,
        clock,
      }),
      circuits,
      parking,
      results,
      metrics,
      logger,
      settings: {
        maxAttempts: config.MAX_ATTEMPTS,
        retryBaseMs: config.RETRY_BASE_MS,
        retryMaxMs: config.RETRY_MAX_MS,
        resendAmbiguous: config.RESEND_AMBIGUOUS,
      },
      clock,
      random,
    });
    const consumer = new OutboundConsumer(
      kafka,
      {
        topic: topics.outbound,
        groupId: config.SENDER_GROUP_ID,
        maxInFlight: config.MAX_IN_FLIGHT,
        sessionTimeoutMs: config.CONSUMER_SESSION_TIMEOUT_MS,
        maxBytesPerPartition: config.FETCH_MAX_BYTES_PER_PARTITION,
      },
      processor,
      loader,
      metrics,
      logger,
    );

    if (config.METRICS_PORT > 0) {
      // /readyz: 503 until the consumer joined its group, and again once it crashed or stopped.
      const server: Server = await startMetricsServer(metrics.registry, {
        host: config.METRICS_HOST,
        port: config.METRICS_PORT,
        logger,
        ready: () => consumer.isReady(),
      });
      closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    }

    await consumer.start();
    // Registered last, so it runs first: nothing new starts while the rest closes.
    closers.push(() => consumer.stop());
    logger.info(
      {
        topic: topics.outbound,
        group_id: config.SENDER_GROUP_ID,
        graph_api_version: config.GRAPH_API_VERSION,
        rate_limit_per_second: config.RATE_LIMIT_PER_SECOND,
      },
      'sender started',
    );

    let stopped: Promise<void> | undefined;
    return {
      metrics,
      stop: () => {
        stopped ??= closeAll().then(() => logger.info('sender stopped'));
        return stopped;
      },
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/**
 * Returns the partition count of `ig.outbound` after checking that `ig.outbound.results` and
 * `ig.circuit` have the same, because an account must have the same partition in all three.
 */
async function matchingPartitionCount(
  admin: import('kafkajs').Admin,
  topics: ReturnType<typeof topicNames>,
): Promise<number> {
  const names = [topics.outbound, topics.outboundResults, topics.circuit];
  const metadata = await admin.fetchTopicMetadata({ topics: names });
  const counts = new Map(metadata.topics.map((topic) => [topic.name, topic.partitions.length]));
  const expected = counts.get(topics.outbound) ?? 0;
  const mismatches = names
    .filter((name) => counts.get(name) !== expected)
    .map((name) => ({ topic: name, expected, actual: counts.get(name) ?? 0 }));
  if (mismatches.length > 0) throw new TopicPartitionMismatchError(mismatches);
  return expected;
}
