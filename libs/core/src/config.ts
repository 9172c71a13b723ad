import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { ErrorCodes, IgRouterError } from './errors.js';

/** Thrown when an environment variable is missing or invalid; the message names every one. */
export class ConfigError extends IgRouterError {
  readonly variables: string[];

  constructor(message: string, variables: string[]) {
    super(ErrorCodes.CONFIG_INVALID, message);
    this.name = 'ConfigError';
    this.variables = variables;
  }
}

const booleanString = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], {
    error: 'expected true or false',
  })
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

/** Parses a boolean variable such as `KAFKA_SSL=true`. */
export const envBoolean = (defaultValue: boolean) =>
  booleanString.optional().transform((value) => value ?? defaultValue);

/** Parses a whole number within bounds, such as a port or a duration in milliseconds. */
export const envInt = (defaultValue: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value === '') return defaultValue;
      const parsed = Number(value);
      if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
        ctx.addIssue({
          code: 'custom',
          message: `expected a whole number from ${min} to ${max}, got "${value}"`,
        });
        return z.NEVER;
      }
      return parsed;
    });

/** Parses a comma-separated list such as `KAFKA_BROKERS=host1:9092,host2:9092`. */
export const envList = (example: string) =>
  z
    .string({ error: `missing; expected a comma-separated list such as ${example}` })
    .transform((value) =>
      value
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item.length > 0),
    )
    .refine((items) => items.length > 0, {
      message: `expected a comma-separated list such as ${example}`,
    });

/** A required, non-empty string variable. */
export const envString = (expectation: string) =>
  z.string({ error: `missing; expected ${expectation}` }).min(1, `empty; expected ${expectation}`);

export const logLevelSchema = z
  .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  .default('info');

/** Kafka connection settings shared by every service. */
export const kafkaEnvSchema = z.object({
  KAFKA_BROKERS: envList('127.0.0.1:9092').superRefine((brokers, ctx) => {
    for (const broker of brokers) {
      const match = /^(.+):(\d{1,5})$/.exec(broker);
      if (!match || Number(match[2]) < 1 || Number(match[2]) > 65535) {
        ctx.addIssue({
          code: 'custom',
          message: `expected host:port for every broker, such as 127.0.0.1:9092, got "${broker}"`,
        });
      }
    }
  }),
  KAFKA_CLIENT_ID: z.string().min(1).optional(),
  KAFKA_SSL: envBoolean(false),
  KAFKA_SASL_MECHANISM: z
    .enum(['plain', 'scram-sha-256', 'scram-sha-512'], {
      error: 'expected plain, scram-sha-256 or scram-sha-512',
    })
    .optional(),
  KAFKA_SASL_USERNAME: z.string().optional(),
  KAFKA_SASL_PASSWORD: z.string().optional(),
  TOPIC_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9._-]*$/, 'expected letters, digits, ".", "_" or "-"')
    .default(''),
});

const databaseUrlExpectation =
  'a PostgreSQL URL such as postgres://user:pass@127.0.0.1:5432/igrouter';

export const databaseEnvSchema = z.object({
  DATABASE_URL: envString(databaseUrlExpectation).refine(
    (value) => {
      try {
        const url = new URL(value);
        return (url.protocol === 'postgres:' || url.protocol === 'postgresql:') && url.host !== '';
      } catch {
        return false;
      }
    },
    // The value is not quoted back: it can hold the database password.
    { message: `expected ${databaseUrlExpectation}` },
  ),
});

export const kmsEnvSchema = z.object({
  AWS_REGION: z.string().min(1).default('eu-west-2'),
  AWS_ENDPOINT_URL_KMS: z.url({ error: 'expected a URL such as http://127.0.0.1:4599' }).optional(),
  KMS_KEY_ID: envString('a KMS key id, ARN or alias such as alias/ig-router'),
});

export const loggingEnvSchema = z.object({
  LOG_LEVEL: logLevelSchema,
});

/**
 * Finds `.stack/env`, written by `npm run stack:up`, by walking up from `start`.
 * `IGR_STACK_ENV` names the file directly.
 */
export function findStackEnvFile(
  start = process.cwd(),
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (env.IGR_STACK_ENV) return existsSync(env.IGR_STACK_ENV) ? env.IGR_STACK_ENV : undefined;
  let dir = resolve(start);
  for (;;) {
    const candidate = join(dir, '.stack', 'env');
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Parses a dotenv file: `KEY=value` lines, `#` comments, optional double quotes. */
export function parseDotenv(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq).trim();
    let value = line.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
      value = JSON.parse(value) as string;
    }
    values[key] = value;
  }
  return values;
}

/**
 * Returns the process environment with the local stack's endpoints filled in where a variable
 * is not already set, so that services, tests and the CLI find `npm run stack:up`'s servers.
 */
export function environmentWithStack(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const file = findStackEnvFile(process.cwd(), env);
  if (!file) return env;
  const stack = parseDotenv(readFileSync(file, 'utf8'));
  const merged: NodeJS.ProcessEnv = { ...stack };
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined) merged[key] = value;
  }
  return merged;
}

/**
 * Parses the environment with a service's schema. Every invalid or missing variable is listed
 * in one ConfigError, so an operator fixes them all at once. A variable set to the empty string
 * counts as unset, so compose files and shells can pass `${VAR:-}` through for optional
 * settings, and a required one set to '' is reported as missing.
 */
export function loadConfig<S extends z.ZodType>(
  schema: S,
  env: NodeJS.ProcessEnv = environmentWithStack(),
): z.output<S> {
  const present: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && value !== '') present[key] = value;
  }
  env = present;
  const result = schema.safeParse(env);
  if (result.success) return result.data;

  const lines: string[] = [];
  const variables: string[] = [];
  for (const issue of result.error.issues) {
    const variable = issue.path.map(String).join('.') || '(environment)';
    variables.push(variable);
    const message =
      issue.code === 'invalid_type' &&
      env[variable] === undefined &&
      !issue.message.startsWith('missing')
        ? `missing; ${issue.message}`
        : issue.message;
    lines.push(`  ${variable}: ${message}`);
  }
  return throwConfigError(lines, variables);
}

function throwConfigError(lines: string[], variables: string[]): never {
  throw new ConfigError(
    `Invalid configuration. Set these environment variables and start again:\n${lines.join('\n')}`,
    variables,
  );
}

/**
 * Loads the configuration or, for a service's entry point, prints the error and exits with
 * status 78 (EX_CONFIG) so process managers do not restart it in a loop.
 */
export function loadConfigOrExit<S extends z.ZodType>(schema: S, serviceName: string): z.output<S> {
  try {
    return loadConfig(schema);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${serviceName}: ${error.message}\n`);
      process.exit(78);
    }
    throw error;
  }
}

/** Sizing of the topic catalogue, read by `stack:up`, `npm run provision` and `igr topics apply`. */
export const topicsEnvSchema = z.object({
  TOPIC_REPLICATION_FACTOR: envInt(1, 1, 32),
  RAW_RETENTION_MS: z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value === '') return undefined;
      const parsed = Number(value);
      if (!Number.isInteger(parsed) || (parsed < 1 && parsed !== -1)) {
        ctx.addIssue({
          code: 'custom',
          message: `expected milliseconds as a whole number, or -1 to keep forever; got "${value}"`,
        });
        return z.NEVER;
      }
      return parsed;
    }),
  RAW_PARTITIONS: envInt(6, 1, 10_000),
  EVENTS_PARTITIONS: envInt(12, 1, 10_000),
  OUTBOUND_PARTITIONS: envInt(12, 1, 10_000),
});
