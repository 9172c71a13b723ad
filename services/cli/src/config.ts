import {
  DEFAULT_GRAPH_API_URL,
  DEFAULT_GRAPH_API_VERSION,
  databaseEnvSchema,
  envString,
  kafkaEnvSchema,
  kmsEnvSchema,
  logLevelSchema,
  topicsEnvSchema,
} from '@ig-router/core';
import { z } from 'zod';

// Each command loads only the groups of settings it uses, so `igr clients create` runs without
// Kafka settings and `igr topics list` without a database. Every group is parsed with
// loadConfig, whose error lists every missing or invalid variable of that group.

/** LOG_LEVEL of the CLI: log lines go to stderr, and only warnings by default. */
export const cliLoggingSchema = z.object({
  LOG_LEVEL: logLevelSchema.unwrap().default('warn'),
});

export const cliDatabaseSchema = databaseEnvSchema;

/** Kafka connection and TOPIC_PREFIX. */
export const cliKafkaSchema = kafkaEnvSchema;

/** Topic sizing for `igr topics apply`, on top of the Kafka connection. */
export const cliTopicsSchema = z.object({ ...kafkaEnvSchema.shape, ...topicsEnvSchema.shape });

/**
 * KMS settings. The AWS SDK reads credentials from the process environment, so credentials
 * found only in `.stack/env` are passed to the client explicitly.
 */
export const cliKmsSchema = z.object({
  ...kmsEnvSchema.shape,
  AWS_ACCESS_KEY_ID: z.string().min(1).optional(),
  AWS_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  AWS_SESSION_TOKEN: z.string().min(1).optional(),
});

/** Graph API endpoint. GRAPH_API_URL is the base URL without a version. */
export const cliGraphSchema = z.object({
  GRAPH_API_URL: z
    .url({ error: 'expected a URL such as https://graph.facebook.com' })
    .default(DEFAULT_GRAPH_API_URL),
  GRAPH_API_VERSION: z
    .string()
    .regex(/^v\d+\.\d+$/, `expected a Graph API version such as ${DEFAULT_GRAPH_API_VERSION}`)
    .default(DEFAULT_GRAPH_API_VERSION),
});

/**
 * The default Meta app, for `debug_token`: its app access token is `META_APP_ID|META_APP_SECRET`
 * and is never printed.
 */
export const cliMetaAppSchema = z.object({
  META_APP_ID: z
    .string({ error: 'missing; expected the numeric App ID of the Meta app' })
    .regex(/^\d+$/, 'expected the numeric App ID of the Meta app'),
  META_APP_SECRET: envString('the App Secret of the default Meta app'),
});

/** App secrets for `igr audit verify`: the default app and the named apps of META_APPS_FILE. */
export const cliAuditAppsSchema = z.object({
  META_APP_SECRET: z.string().min(1).optional(),
  META_APPS_FILE: z.string().min(1).optional(),
});

export type CliKafkaConfig = z.output<typeof cliKafkaSchema>;
export type CliTopicsConfig = z.output<typeof cliTopicsSchema>;
export type CliKmsConfig = z.output<typeof cliKmsSchema>;
export type CliGraphConfig = z.output<typeof cliGraphSchema>;
export type CliMetaAppConfig = z.output<typeof cliMetaAppSchema>;
export type CliAuditAppsConfig = z.output<typeof cliAuditAppsSchema>;
