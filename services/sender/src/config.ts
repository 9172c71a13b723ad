import {
  DEFAULT_GRAPH_API_URL,
  DEFAULT_GRAPH_API_VERSION,
  databaseEnvSchema,
  envBoolean,
  envInt,
  kafkaEnvSchema,
  kmsEnvSchema,
  loggingEnvSchema,
} from '@ig-router/core';
import { z } from 'zod';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

/** Environment of the sender service. Durations are in milliseconds. */
export const senderConfigSchema = z.object({
  ...kafkaEnvSchema.shape,
  ...databaseEnvSchema.shape,
  ...kmsEnvSchema.shape,
  ...loggingEnvSchema.shape,

  GRAPH_API_URL: z
    .url({ error: 'expected a URL such as https://graph.facebook.com' })
    .default(DEFAULT_GRAPH_API_URL),
  GRAPH_API_VERSION: z
    .string()
    .regex(/^v\d+\.\d+$/, 'expected a Graph API version such as v23.0')
    .default(DEFAULT_GRAPH_API_VERSION),
  /** Maximum time of one Send API request, including the wait for a connection. */
  GRAPH_TIMEOUT_MS: envInt(10_000, 100, 120_000),
  /** Maximum open keep-alive connections to the Graph API host. */
  GRAPH_CONNECTIONS: envInt(512, 1, 10_000),

  /** Consumer group of `ig.outbound`; also the prefix of the private circuit reader group. */
  SENDER_GROUP_ID: z.string().min(1).default('ig-router-sender'),
  /** Token bucket refill rate per account, in sends per second. */
  RATE_LIMIT_PER_SECOND: envInt(100, 1, 10_000),
  /**
   * Usage percentage (of `X-App-Usage` or `X-Business-Use-Case-Usage`) from which the account's
   * send rate is reduced, reaching a tenth of the rate at 100 %.
   */
  USAGE_SLOWDOWN_PERCENT: envInt(80, 1, 100),
  /** Send API requests per command at most, the first one included. */
  MAX_ATTEMPTS: envInt(4, 1, 20),
  /** First delay before retrying a transient error; doubles per attempt, with jitter. */
  RETRY_BASE_MS: envInt(250, 1, MINUTE_MS),
  RETRY_MAX_MS: envInt(4_000, 1, 10 * MINUTE_MS),
  /**
   * Whether a command whose request may have reached Meta is sent again. Off by default: a
   * duplicate DM is worse than a reported gap, so such commands end as `ambiguous`.
   */
  RESEND_AMBIGUOUS: envBoolean(false),

  /** Consecutive transient failures of an account that open its circuit. */
  CIRCUIT_FAILURE_THRESHOLD: envInt(5, 1, 1_000),
  /** First cool-down after transient failures; doubles at every failed half-open probe. */
  CIRCUIT_COOLDOWN_MS: envInt(30_000, 100, DAY_MS),
  CIRCUIT_MAX_COOLDOWN_MS: envInt(30 * MINUTE_MS, 100, 7 * DAY_MS),
  /** First pause after a rate-limit error without a regain time from Meta; doubles per error. */
  THROTTLE_BACKOFF_MS: envInt(2_000, 100, DAY_MS),
  /** Cool-down after a permission or policy error (codes 10, 200-299, 368). */
  PERMISSION_COOLDOWN_MS: envInt(HOUR_MS, 1_000, 30 * DAY_MS),

  /**
   * Maximum time a parked command without `not_after` waits for its circuit to close. The
   * default matches Meta's 24-hour messaging window.
   */
  PARKED_MAX_AGE_MS: envInt(DAY_MS, MINUTE_MS, 30 * DAY_MS),
  /** Parked commands copied back to `ig.outbound` per resume round. */
  RESUME_BATCH_SIZE: envInt(200, 1, 10_000),
  /** Interval of the check that expires parked commands past their deadline. */
  PARKED_SWEEP_INTERVAL_MS: envInt(1_000, 100, MINUTE_MS),

  /** Time a decrypted token stays in memory; 0 decrypts at every send. */
  TOKEN_CACHE_TTL_MS: envInt(60_000, 0, HOUR_MS),
  /** Commands processed at the same time by one instance, across all partitions. */
  MAX_IN_FLIGHT: envInt(1_000, 1, 100_000),
  /** Bytes fetched per partition per fetch; bounds the commands one batch holds. */
  FETCH_MAX_BYTES_PER_PARTITION: envInt(256 * 1024, 1024, 64 * 1024 * 1024),
  /** Consumer session timeout; a member silent this long loses its partitions. */
  CONSUMER_SESSION_TIMEOUT_MS: envInt(30_000, 6_000, 30 * MINUTE_MS),
  DATABASE_POOL_MAX: envInt(20, 1, 200),

  METRICS_HOST: z.string().min(1).default('0.0.0.0'),
  /** Port of `/metrics`, `/healthz` and `/readyz`; 0 disables the metrics server. */
  METRICS_PORT: envInt(9103, 0, 65_535),
});

export type SenderConfig = z.output<typeof senderConfigSchema>;
