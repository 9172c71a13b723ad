import { createLogger, envInt, loadConfigOrExit, loggingEnvSchema } from '@ig-router/core';
import { z } from 'zod';
import { startGraphSimulator } from './server.js';

// Runs the Graph API simulator on its own, for demos and manual testing (`npm run graph-sim`).

const graphSimEnvSchema = loggingEnvSchema.extend({
  /** TCP port; 0 picks a free one. */
  GRAPH_SIM_PORT: envInt(0, 0, 65_535),
  /** Listen address; 0.0.0.0 only inside a container network. */
  GRAPH_SIM_HOST: z.string().min(1).default('127.0.0.1'),
  /** Sends per second per account before code 613. */
  GRAPH_SIM_RATE_LIMIT: envInt(100, 1),
  /** Milliseconds added before every Graph API response. */
  GRAPH_SIM_LATENCY_MS: envInt(0, 0, 600_000),
});

async function main(): Promise<void> {
  const config = loadConfigOrExit(graphSimEnvSchema, 'graph-sim');
  const logger = createLogger({ service: 'graph-sim', level: config.LOG_LEVEL });

  const simulator = await startGraphSimulator({
    port: config.GRAPH_SIM_PORT,
    host: config.GRAPH_SIM_HOST,
    rateLimitPerSecond: config.GRAPH_SIM_RATE_LIMIT,
    latencyMs: config.GRAPH_SIM_LATENCY_MS,
    logger,
  });

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'graph simulator stopping');
    simulator.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'graph simulator failed to stop cleanly');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `graph-sim: failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
