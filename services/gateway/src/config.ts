import { hostname } from 'node:os';
import {
  envInt,
  environmentWithStack,
  envString,
  kafkaEnvSchema,
  loadConfig,
  loggingEnvSchema,
} from '@ig-router/core';
import { z } from 'zod';

const KIB = 1024;
const MIB = 1024 * KIB;

/**
 * Largest accepted body. `ig.raw` allows 8 MiB record batches (`max.message.bytes`), and a body
 * travels alone in a batch at worst, so 7 MiB leaves room for the record headers and framing.
 */
export const MAX_BODY_LIMIT_BYTES = 7 * MIB;

/**
 * Environment of the gateway. Every duration is in milliseconds and every size in bytes.
 * META_APPS_FILE is only named here; apps.ts reads and validates the file.
 */
export const gatewayConfigSchema = z
  .object({
    ...kafkaEnvSchema.shape,
    ...loggingEnvSchema.shape,
    HOST: z.string().min(1).default('127.0.0.1'),
    PORT: envInt(3000, 0, 65_535),
    META_APP_SECRET: envString('the App Secret of the default Meta app'),
    META_VERIFY_TOKEN: envString(
      'the verify token entered in the webhook settings of the default app',
    ),
    META_APPS_FILE: z.string().min(1).optional(),
    // The client send API (/v1) reads clients, accounts and sends from PostgreSQL; without a
    // database URL the gateway serves webhooks only.
    DATABASE_URL: z.string().min(1).optional(),
    // Meta has sent bodies of several hundred KB, and a 100 KB cap has caused endless retries,
    // so the limit cannot be set below 1 MiB.
    BODY_LIMIT_BYTES: envInt(4 * MIB, MIB, MAX_BODY_LIMIT_BYTES),
    // Time allowed to receive a whole request, headers and body. A slower client gets 408 and
    // is disconnected, so slow requests cannot hold connections open. Meta's pages state 5, 20
    // or 30 s as its wait for a delivery, so after 30 s no sender still waits.
    REQUEST_TIMEOUT_MS: envInt(30_000, 500, 300_000),
    // Meta waits about 5 s for a response, so a 503 must go out before that.
    PRODUCE_TIMEOUT_MS: envInt(2_500, 50, 4_500),
    PRODUCE_LINGER_MS: envInt(2, 0, 1_000),
    PRODUCE_BATCH_MAX_RECORDS: envInt(500, 1, 10_000),
    PRODUCE_BATCH_MAX_BYTES: envInt(MIB, 16 * KIB, MAX_BODY_LIMIT_BYTES),
    PRODUCE_QUEUE_MAX_BYTES: envInt(64 * MIB, MIB, 1024 * MIB),
    GATEWAY_INSTANCE: z
      .string()
      .min(1)
      .optional()
      .transform((value) => value ?? hostname()),
  })
  .superRefine((config, ctx) => {
    if (config.PRODUCE_QUEUE_MAX_BYTES < config.BODY_LIMIT_BYTES) {
      ctx.addIssue({
        code: 'custom',
        path: ['PRODUCE_QUEUE_MAX_BYTES'],
        message: `must be at least BODY_LIMIT_BYTES (${config.BODY_LIMIT_BYTES}), or a body of the maximum size could never be queued`,
      });
    }
  });

export type GatewayConfig = z.output<typeof gatewayConfigSchema>;

/** Parses the gateway's environment; throws a ConfigError that lists every invalid variable. */
export function loadGatewayConfig(env: NodeJS.ProcessEnv = environmentWithStack()): GatewayConfig {
  return loadConfig(gatewayConfigSchema, env);
}
