import {
  createIdempotentProducer,
  createKafka,
  createLogger,
  envBoolean,
  envInt,
  kafkaEnvSchema,
  loadConfigOrExit,
  loggingEnvSchema,
} from '@ig-router/core';
import { z } from 'zod';
import { startAutoReply } from './auto-reply.js';

const configSchema = kafkaEnvSchema.extend(loggingEnvSchema.shape).extend({
  AUTO_REPLY_TEXT: z
    .string()
    .min(1)
    .max(1000)
    .default('Thanks for your message! We will get back to you soon.'),
  AUTO_REPLY_GROUP_ID: z.string().min(1).default('auto-reply'),
  AUTO_REPLY_DEDUPE_SIZE: envInt(100_000, 1, 10_000_000),
  AUTO_REPLY_ACCOUNTS: z.string().default(''),
  AUTO_REPLY_FROM_BEGINNING: envBoolean(false),
});

const config = loadConfigOrExit(configSchema, 'auto-reply');
const logger = createLogger({ service: 'auto-reply', level: config.LOG_LEVEL });
const kafka = createKafka(config, 'auto-reply', logger);
const producer = createIdempotentProducer(kafka);

const app = await startAutoReply({
  kafka,
  producer,
  logger,
  prefix: config.TOPIC_PREFIX,
  groupId: config.AUTO_REPLY_GROUP_ID,
  replyText: config.AUTO_REPLY_TEXT,
  dedupeSize: config.AUTO_REPLY_DEDUPE_SIZE,
  fromBeginning: config.AUTO_REPLY_FROM_BEGINNING,
  accounts: new Set(
    config.AUTO_REPLY_ACCOUNTS.split(',')
      .map((id) => id.trim())
      .filter((id) => id.length > 0),
  ),
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    logger.info({ signal }, 'stopping');
    app.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'stop failed');
        process.exit(1);
      },
    );
  });
}
