import { createLogger, loadConfigOrExit } from '@ig-router/core';
import { routerConfigSchema } from './config.js';
import { type RunningRouter, startRouter } from './service.js';

// Entry point: `node dist/main.js`. Exits 0 after SIGTERM or SIGINT once the consumers have
// left their groups, 1 when start-up fails or a consumer stops for good, 78 on invalid
// configuration. A signal during start-up exits at once; the group and the broker then clean
// up after the session and transaction timeouts.

const config = loadConfigOrExit(routerConfigSchema, 'router');
const logger = createLogger({ service: 'router', level: config.LOG_LEVEL });

let running: RunningRouter | undefined;
let exiting = false;

function exit(code: number): void {
  if (exiting) return;
  exiting = true;
  const stopped = running ? running.stop() : Promise.resolve();
  stopped
    .catch((err: unknown) => logger.error({ err }, 'stopping the router failed'))
    .finally(() => {
      logger.flush();
      process.exit(code);
    });
}

process.once('SIGTERM', () => exit(0));
process.once('SIGINT', () => exit(0));

try {
  running = await startRouter(config, {
    logger,
    onFatal: (err) => {
      logger.fatal({ err }, 'a consumer stopped for good; exiting so the router is restarted');
      exit(1);
    },
  });
} catch (err) {
  logger.fatal({ err }, 'router failed to start');
  logger.flush();
  process.exit(1);
}
