import type { Server } from 'node:http';
import {
  AccountChangeListener,
  createDatabase,
  createKafka,
  createLogger,
  createMetricsRegistry,
  type DatabaseHandle,
  type Logger,
  startMetricsServer,
  topicNames,
} from '@ig-router/core';
import type { Kafka } from 'kafkajs';
import type { Registry } from 'prom-client';
import { AccountCache } from './account-cache.js';
import type { RouterConfig } from './config.js';
import { ConsumeRaw } from './consume-raw.js';
import { createRouterMetrics, type RouterMetrics } from './metrics.js';
import { Projector } from './projector.js';

export interface RouterDeps {
  /** The service logger. By default, a new one at LOG_LEVEL on stdout. */
  logger?: Logger;
  /** A kafkajs client to use. By default, one is created from the configuration. */
  kafka?: Kafka;
  /** A metrics registry to register on. By default, a new one with the process metrics. */
  registry?: Registry;
  /** Called when a consumer stopped for good, so that `main.ts` exits and the process is restarted. */
  onFatal?: (err: unknown) => void;
}

export interface RunningRouter {
  metrics: RouterMetrics;
  registry: Registry;
  accounts: AccountCache;
  /** Stops consuming and closes producers and connections. Safe to call more than once. */
  stop(): Promise<void>;
}

/**
 * Starts the router service: the transactional `ig.raw` pipeline, the projector, the account
 * cache with its LISTEN connection and, unless METRICS_PORT is 0, the metrics server.
 */
export async function startRouter(
  config: RouterConfig,
  deps: RouterDeps = {},
): Promise<RunningRouter> {
  const logger = deps.logger ?? createLogger({ service: 'router', level: config.LOG_LEVEL });
  const kafka = deps.kafka ?? createKafka(config, 'ig-router', logger);
  const registry = deps.registry ?? createMetricsRegistry('router');
  const metrics = createRouterMetrics(registry);
  const topics = topicNames(config.TOPIC_PREFIX);

  const stoppers: Array<() => Promise<void>> = [];
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      for (const stopOne of stoppers.reverse()) {
        await stopOne().catch((err: unknown) =>
          logger.error({ err }, 'stopping a router component failed'),
        );
      }
      logger.info('router stopped');
    })();
    return stopped;
  };

  try {
    const database: DatabaseHandle = createDatabase(config, config.DATABASE_POOL_MAX);
    stoppers.push(() => database.close());

    const listener = new AccountChangeListener(config.DATABASE_URL, logger);
    const accounts = new AccountCache(database.db, {
      ttlMs: config.ACCOUNT_CACHE_TTL_MS,
      logger,
      metrics,
    });
    accounts.follow(listener);
    await listener.start();
    stoppers.push(async () => {
      accounts.unfollow();
      await listener.stop();
    });

    const readiness: Array<() => boolean> = [];
    const common = {
      kafka,
      topics,
      accounts,
      metrics,
      logger,
      fromBeginning: config.ROUTER_FROM_BEGINNING,
      sessionTimeoutMs: config.CONSUMER_SESSION_TIMEOUT_MS,
      maxWaitTimeMs: config.CONSUMER_MAX_WAIT_MS,
      retryInitialMs: config.ROUTER_RETRY_INITIAL_MS,
      retryMaxMs: config.ROUTER_RETRY_MAX_MS,
      onFatal: deps.onFatal,
    };

    if (config.ROUTER_ENABLED) {
      const pipeline = new ConsumeRaw({
        ...common,
        groupId: config.ROUTER_GROUP_ID,
        partitionsConcurrency: config.ROUTER_PARTITIONS_CONCURRENCY,
        maxRecordsPerTransaction: config.ROUTER_MAX_RECORDS_PER_TRANSACTION,
        fetchMaxBytesPerPartition: config.ROUTER_FETCH_MAX_BYTES_PER_PARTITION,
        maxSendBytes: config.ROUTER_MAX_SEND_BYTES,
        transactionTimeoutMs: config.ROUTER_TRANSACTION_TIMEOUT_MS,
      });
      stoppers.push(() => pipeline.stop());
      readiness.push(() => pipeline.isReady());
      await pipeline.start();
    }

    if (config.PROJECTOR_ENABLED) {
      const projector = new Projector({
        ...common,
        db: database.db,
        groupId: config.PROJECTOR_GROUP_ID,
      });
      stoppers.push(() => projector.stop());
      readiness.push(() => projector.isReady());
      await projector.start();
    }

    if (config.METRICS_PORT !== 0) {
      // /readyz: 503 until every enabled consumer joined its group, and again once one crashed
      // or stopped. A PostgreSQL outage pauses partitions but keeps the router ready: restarting
      // it would not bring the database back.
      const server: Server = await startMetricsServer(registry, {
        host: config.METRICS_HOST,
        port: config.METRICS_PORT,
        logger,
        ready: () => readiness.every((isReady) => isReady()),
      });
      stoppers.push(() => new Promise<void>((resolveClose) => server.close(() => resolveClose())));
    }

    logger.info(
      {
        router_group_id: config.ROUTER_ENABLED ? config.ROUTER_GROUP_ID : null,
        projector_group_id: config.PROJECTOR_ENABLED ? config.PROJECTOR_GROUP_ID : null,
        topic_prefix: config.TOPIC_PREFIX,
      },
      'router started',
    );
    return { metrics, registry, accounts, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
