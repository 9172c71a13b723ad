import { createLogger, loadConfigOrExit } from '@ig-router/core';
import { gatewayConfigSchema } from './config.js';
import { startGateway } from './gateway.js';

/**
 * Entry point of `npm start --workspace services/gateway`. SIGTERM or SIGINT stops accepting
 * requests, lets those in flight finish, flushes the producer and exits 0. A second signal, or
 * a shutdown that outlasts its deadline, exits 1 at once.
 */
async function main(): Promise<void> {
  const config = loadConfigOrExit(gatewayConfigSchema, 'gateway');
  const logger = createLogger({ service: 'gateway', level: config.LOG_LEVEL });

  let gateway: Awaited<ReturnType<typeof startGateway>>;
  try {
    gateway = await startGateway(config, { logger });
  } catch (err) {
    logger.fatal({ err }, 'gateway failed to start');
    process.exit(1);
  }

  // In-flight requests take at most PRODUCE_TIMEOUT_MS, and the flush about as long again.
  const shutdownDeadlineMs = 2 * config.PRODUCE_TIMEOUT_MS + 5_000;
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal during shutdown; exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal, deadline_ms: shutdownDeadlineMs }, 'shutdown requested');
    const deadline = setTimeout(() => {
      logger.error({ deadline_ms: shutdownDeadlineMs }, 'shutdown timed out; exiting');
      process.exit(1);
    }, shutdownDeadlineMs);
    deadline.unref();
    gateway.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

void main();
