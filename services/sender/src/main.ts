import { createLogger, loadConfigOrExit } from '@ig-router/core';
import { senderConfigSchema } from './config.js';
import { type RunningSender, startSender } from './service.js';

/** Starts the sender and stops it cleanly on SIGTERM or SIGINT. */
async function main(): Promise<void> {
  const config = loadConfigOrExit(senderConfigSchema, 'sender');
  const logger = createLogger({ service: 'sender', level: config.LOG_LEVEL });

  let sender: RunningSender | undefined;
  let exiting = false;
  const exit = (code: number) => {
    if (exiting) return;
    exiting = true;
    Promise.resolve(sender?.stop())
      .catch((err: unknown) => logger.error({ err }, 'stopping the sender failed'))
      .finally(() => {
        logger.flush();
        process.exit(code);
      });
  };
  process.once('SIGTERM', () => exit(0));
  process.once('SIGINT', () => exit(0));

  try {
    sender = await startSender(config, { logger });
  } catch (err) {
    logger.fatal({ err }, 'sender failed to start');
    logger.flush();
    process.exit(1);
  }
}

void main();
