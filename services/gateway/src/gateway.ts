import {
  createDatabase,
  createIdempotentProducer,
  createKafka,
  createLogger,
  createMetricsRegistry,
  type Logger,
  topicNames,
} from '@ig-router/core';
import type { Kafka } from 'kafkajs';
import type { Registry } from 'prom-client';
import { loadApps } from './apps.js';
import { type ClientApiDependencies, clientApiPlugin } from './client-api.js';
import type { GatewayConfig } from './config.js';
import { GatewayError, GatewayErrorCodes } from './errors.js';
import { createGatewayMetrics, type GatewayMetrics } from './metrics.js';
import { ProduceBatcher } from './produce-batcher.js';
import { Readiness } from './readiness.js';
import { buildServer, type GatewayServer } from './server.js';

/** Optional replacements for what startGateway otherwise creates from the config. */
export interface GatewayDependencies {
  logger?: Logger;
  kafka?: Kafka;
  registry?: Registry;
  /** Interval of the rejection log's rate limit, in ms (default 10 s). */
  rejectionLogIntervalMs?: number;
  /**
   * Adds routes or plugins to the server before it listens, such as the client API. They keep
   * Fastify's default body parsers; only the webhook routes read raw bytes.
   */
  configure?: (app: GatewayServer) => Promise<void> | void;
}

export interface RunningGateway {
  app: GatewayServer;
  /** Base URL of the listening server, such as `http://127.0.0.1:3000`. */
  url: string;
  registry: Registry;
  /** Stops accepting requests, finishes those in flight, flushes the producer and disconnects. */
  close(): Promise<void>;
}

/**
 * kafkajs retry policy of the producer. A sendBatch gives up after about 2.5 s of backoff, where
 * the client default from createKafka allows about 40 s, so the batcher replaces a failed
 * producer instead of queueing behind a dead connection. kafkajs warns that limited retries "may
 * invalidate EoS guarantees"; the batcher keeps them by never reusing a producer after a failed
 * send.
 */
const PRODUCER_RETRY = { retries: 5, initialRetryTime: 100, maxRetryTime: 1_000 };

/**
 * Connects what the client send API needs: the database and a batching producer for
 * `ig.outbound`, separate from the `ig.raw` one so client sends never slow webhook ingest.
 */
async function startClientApi(
  databaseUrl: string,
  kafka: Kafka,
  prefix: string,
  logger: Logger,
  metrics: GatewayMetrics,
): Promise<{ dependencies: ClientApiDependencies; close(): Promise<void> }> {
  const topics = topicNames(prefix);
  const database = createDatabase({ DATABASE_URL: databaseUrl }, 5);
  const outbound = new ProduceBatcher({
    topic: topics.outbound,
    createProducer: () =>
      createIdempotentProducer(kafka, { retry: PRODUCER_RETRY, allowAutoTopicCreation: false }),
    lingerMs: 2,
    maxBatchRecords: 500,
    maxBatchBytes: 1024 * 1024,
    maxQueuedBytes: 16 * 1024 * 1024,
    produceTimeoutMs: 4_000,
    logger,
    // NOTE: client sends share the produce metrics series of webhook ingest (no topic label).
    metrics,
  });
  await outbound.start();
  return {
    dependencies: {
      db: database.db,
      topics,
      logger,
      produceOutbound: (command) =>
        outbound.produce({ key: command.ig_business_id, value: JSON.stringify(command) }),
    },
    close: async () => {
      await outbound.close();
      await database.close();
    },
  };
}

/**
 * Checks that `ig.raw` exists before the gateway accepts webhooks. The producer never creates
 * topics, so a wrong TOPIC_PREFIX would otherwise only show as a 503 on every delivery.
 */
async function requireTopic(kafka: Kafka, topic: string): Promise<void> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    const topics = await admin.listTopics();
    if (!topics.includes(topic)) {
      throw new GatewayError(
        GatewayErrorCodes.TOPIC_MISSING,
        `topic ${topic} does not exist; create the topics (npm run stack:up does it locally) or fix TOPIC_PREFIX`,
      );
    }
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    throw new GatewayError(
      GatewayErrorCodes.KAFKA_UNAVAILABLE,
      `listing the Kafka topics failed: ${(err as Error).message}`,
      { cause: err },
    );
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/**
 * Starts the gateway: reads the apps, checks that `ig.raw` exists, connects the idempotent
 * producer, and listens on HOST:PORT (PORT 0 picks a free port). Throws a GatewayError with
 * code TOPIC_MISSING or KAFKA_UNAVAILABLE when Kafka is not ready for it.
 */
export async function startGateway(
  config: GatewayConfig,
  deps: GatewayDependencies = {},
): Promise<RunningGateway> {
  const logger = deps.logger ?? createLogger({ service: 'gateway', level: config.LOG_LEVEL });
  const apps = loadApps(config);
  const topic = topicNames(config.TOPIC_PREFIX).raw;
  const kafka = deps.kafka ?? createKafka(config, 'ig-router-gateway', logger);
  const registry = deps.registry ?? createMetricsRegistry('gateway');
  const metrics = createGatewayMetrics(registry);

  await requireTopic(kafka, topic);
  const batcher = new ProduceBatcher({
    topic,
    createProducer: () =>
      createIdempotentProducer(kafka, { retry: PRODUCER_RETRY, allowAutoTopicCreation: false }),
    lingerMs: config.PRODUCE_LINGER_MS,
    maxBatchRecords: config.PRODUCE_BATCH_MAX_RECORDS,
    maxBatchBytes: config.PRODUCE_BATCH_MAX_BYTES,
    maxQueuedBytes: config.PRODUCE_QUEUE_MAX_BYTES,
    produceTimeoutMs: config.PRODUCE_TIMEOUT_MS,
    logger,
    metrics,
  });
  await batcher.start();

  const readiness = new Readiness({
    batcher,
    kafka,
    topic,
    logger,
    metrics,
    probeTimeoutMs: config.PRODUCE_TIMEOUT_MS,
  });
  const app = buildServer({
    apps,
    produce: (record) => batcher.produce(record),
    readiness: () => readiness.check(),
    metrics,
    logger,
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
    gatewayInstance: config.GATEWAY_INSTANCE,
    rejectionLogIntervalMs: deps.rejectionLogIntervalMs,
  });

  const clientApi = config.DATABASE_URL
    ? await startClientApi(config.DATABASE_URL, kafka, config.TOPIC_PREFIX, logger, metrics)
    : undefined;
  if (clientApi) {
    await app.register(clientApiPlugin, clientApi.dependencies);
  } else {
    logger.warn('DATABASE_URL is not set: the client send API (/v1) is disabled');
  }

  try {
    await deps.configure?.(app);
    await app.listen({ host: config.HOST, port: config.PORT });
  } catch (err) {
    await app.close().catch(() => {});
    await batcher.close();
    await readiness.close();
    await clientApi?.close();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  const url = `http://${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${port}`;
  logger.info(
    { host: config.HOST, port, topic, apps: apps.names(), instance: config.GATEWAY_INSTANCE },
    'gateway listening',
  );

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      logger.info('gateway stopping');
      // Fastify responds with 503 to new requests while it waits for the ones in flight.
      // Those still need the batcher, so the server closes first.
      await app.close();
      await batcher.close();
      await readiness.close();
      await clientApi?.close();
      logger.info('gateway stopped');
    })();
    return closing;
  };

  return { app, url, registry, close };
}
