import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import {
  applyTopics,
  createDatabase,
  createKafka,
  createLogger,
  kafkaEnvSchema,
  loadConfig,
  migrateUp,
  TopicPartitionMismatchError,
  topicCatalogue,
  topicsEnvSchema,
} from '@ig-router/core';
import {
  checkKafkaPrerequisites,
  ensureKafkaJars,
  KAFKA_VERSION,
  type KafkaInstance,
  startKafka,
} from './kafka.js';
import {
  ensureLocalKms,
  type KmsInstance,
  LOCAL_KMS_ALIAS,
  LOCAL_KMS_REGION,
  LOCAL_KMS_VERSION,
  startLocalKms,
} from './kms.js';
import { stackDir, stackEnvFile, stackStateFile } from './paths.js';
import {
  ensureDatabase,
  POSTGRES_DATABASE,
  type PostgresInstance,
  postgresAnswers,
  postgresUrl,
  startPostgres,
} from './postgres.js';
import { freePort, isAlive, portAnswers, stopProcess, waitFor } from './processes.js';

/** Servers that `stack:up` started, kept in `.stack/state.json` so later runs reuse or stop them. */
export interface StackState {
  kafka?: KafkaInstance;
  postgres?: PostgresInstance;
  kms?: KmsInstance;
}

export interface StackEndpoints {
  KAFKA_BROKERS: string;
  DATABASE_URL: string;
  AWS_ENDPOINT_URL_KMS?: string;
  AWS_REGION: string;
  KMS_KEY_ID: string;
  AWS_ACCESS_KEY_ID?: string;
  AWS_SECRET_ACCESS_KEY?: string;
}

export interface StackOptions {
  log?: (line: string) => void;
  /** Apply migrations and topics after the servers are up (default true). */
  provision?: boolean;
  env?: NodeJS.ProcessEnv;
}

function readState(): StackState {
  if (!existsSync(stackStateFile)) return {};
  try {
    return JSON.parse(readFileSync(stackStateFile, 'utf8')) as StackState;
  } catch {
    return {};
  }
}

function writeState(state: StackState): void {
  mkdirSync(stackDir, { recursive: true });
  // The state contains the local PostgreSQL password, so only the owner may read it, also when
  // an older run created the file with the default mode.
  writeFileSync(stackStateFile, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  chmodSync(stackStateFile, 0o600);
}

async function kafkaUp(state: StackState, log: (line: string) => void): Promise<KafkaInstance> {
  const current = state.kafka;
  if (current && isAlive(current.pid) && (await portAnswers(current.port))) {
    log(`kafka: reusing broker on 127.0.0.1:${current.port} (pid ${current.pid})`);
    return current;
  }
  checkKafkaPrerequisites();
  ensureKafkaJars(log);
  const port =
    current?.port && !(await portAnswers(current.port)) ? current.port : await freePort();
  const controllerPort = await freePort();
  const started = Date.now();
  const kafka = startKafka(stackDir, port, controllerPort);
  log(
    `kafka: starting Apache Kafka ${KAFKA_VERSION} (KRaft) on 127.0.0.1:${port}, log ${kafka.logFile}`,
  );
  await waitFor(
    'Kafka broker start',
    async () => portAnswers(port),
    90_000,
    () => (isAlive(kafka.pid) ? undefined : `the broker exited; see ${kafka.logFile}`),
  );
  log(`kafka: ready in ${Date.now() - started} ms`);
  return kafka;
}

async function postgresUp(
  state: StackState,
  log: (line: string) => void,
): Promise<PostgresInstance> {
  const current = state.postgres;
  if (current && isAlive(current.pid) && (await postgresAnswers(current.port, current.password))) {
    log(`postgres: reusing server on 127.0.0.1:${current.port} (pid ${current.pid})`);
    return current;
  }
  const port =
    current?.port && !(await portAnswers(current.port)) ? current.port : await freePort();
  // The password is only a local default: the server listens on 127.0.0.1 alone.
  const password = current?.password ?? randomBytes(12).toString('hex');
  const started = Date.now();
  const postgres = await startPostgres(stackDir, port, password);
  log(`postgres: starting on 127.0.0.1:${port}, log ${postgres.logFile}`);
  await waitFor(
    'PostgreSQL start',
    async () => postgresAnswers(port, password),
    60_000,
    () => (isAlive(postgres.pid) ? undefined : `the server exited; see ${postgres.logFile}`),
  );
  await ensureDatabase(postgresUrl(port, password, 'postgres'), POSTGRES_DATABASE);
  log(`postgres: ready in ${Date.now() - started} ms`);
  return postgres;
}

async function kmsUp(state: StackState, log: (line: string) => void): Promise<KmsInstance> {
  const current = state.kms;
  if (current && isAlive(current.pid) && (await portAnswers(current.port))) {
    log(`kms: reusing local-kms on 127.0.0.1:${current.port} (pid ${current.pid})`);
    return current;
  }
  ensureLocalKms(log);
  const port =
    current?.port && !(await portAnswers(current.port)) ? current.port : await freePort();
  const kms = startLocalKms(stackDir, port);
  log(`kms: starting local-kms ${LOCAL_KMS_VERSION} on port ${port}, log ${kms.logFile}`);
  await waitFor(
    'local-kms start',
    async () => portAnswers(port),
    30_000,
    () => (isAlive(kms.pid) ? undefined : `local-kms exited; see ${kms.logFile}`),
  );
  return kms;
}

function writeEnvFile(endpoints: StackEndpoints): void {
  const lines = [
    '# Written by `npm run stack:up`. Services, tests and the CLI read it when a variable is not',
    '# already set in the environment. Remove this file or set the variables to use other servers.',
    ...Object.entries(endpoints)
      .filter(([, value]) => value !== undefined)
      .map(([key, value]) => `${key}=${value}`),
    '',
  ];
  mkdirSync(stackDir, { recursive: true });
  writeFileSync(stackEnvFile, lines.join('\n'), { mode: 0o600 });
}

/**
 * Starts, or reuses, every part of the local stack that the environment does not point
 * elsewhere, writes `.stack/env`, then applies migrations and topics.
 */
export async function stackUp(options: StackOptions = {}): Promise<StackEndpoints> {
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const env = options.env ?? process.env;
  const state = readState();
  mkdirSync(stackDir, { recursive: true });

  let kafkaBrokers = env.KAFKA_BROKERS;
  if (kafkaBrokers) {
    log(`kafka: using KAFKA_BROKERS=${kafkaBrokers}`);
  } else {
    state.kafka = await kafkaUp(state, log);
    writeState(state);
    kafkaBrokers = `127.0.0.1:${state.kafka.port}`;
  }

  let databaseUrl = env.DATABASE_URL;
  if (databaseUrl) {
    log('postgres: using DATABASE_URL from the environment');
  } else {
    state.postgres = await postgresUp(state, log);
    writeState(state);
    databaseUrl = postgresUrl(state.postgres.port, state.postgres.password);
  }

  const endpoints: StackEndpoints = {
    KAFKA_BROKERS: kafkaBrokers,
    DATABASE_URL: databaseUrl,
    AWS_REGION: env.AWS_REGION ?? LOCAL_KMS_REGION,
    KMS_KEY_ID: env.KMS_KEY_ID ?? LOCAL_KMS_ALIAS,
  };
  if (env.KMS_KEY_ID) {
    log(
      `kms: using KMS_KEY_ID=${env.KMS_KEY_ID}${env.AWS_ENDPOINT_URL_KMS ? ` at ${env.AWS_ENDPOINT_URL_KMS}` : ' (AWS KMS)'}`,
    );
    if (env.AWS_ENDPOINT_URL_KMS) endpoints.AWS_ENDPOINT_URL_KMS = env.AWS_ENDPOINT_URL_KMS;
  } else {
    state.kms = await kmsUp(state, log);
    writeState(state);
    endpoints.AWS_ENDPOINT_URL_KMS = `http://127.0.0.1:${state.kms.port}`;
    // local-kms accepts any credentials; the AWS SDK still requires some to sign requests.
    endpoints.AWS_ACCESS_KEY_ID = 'local';
    endpoints.AWS_SECRET_ACCESS_KEY = 'local';
  }

  writeEnvFile(endpoints);
  if (options.provision !== false) await provision(endpoints, env, log);
  return endpoints;
}

/** Applies database migrations and the topic catalogue. */
export async function provision(
  endpoints: StackEndpoints,
  env: NodeJS.ProcessEnv,
  log: (line: string) => void,
): Promise<void> {
  const database = createDatabase({ DATABASE_URL: endpoints.DATABASE_URL }, 1);
  try {
    const applied = await migrateUp(database.db);
    log(`migrations: ${applied.length === 0 ? 'up to date' : `applied ${applied.join(', ')}`}`);
  } finally {
    await database.close();
  }

  const settings = loadConfig(kafkaEnvSchema.extend(topicsEnvSchema.shape), {
    ...env,
    KAFKA_BROKERS: endpoints.KAFKA_BROKERS,
  });
  const logger = createLogger({ service: 'stack', level: 'warn' });
  const kafka = createKafka(settings, 'igr-stack', logger);
  const admin = kafka.admin();
  await admin.connect();
  try {
    const catalogue = topicCatalogue({
      prefix: settings.TOPIC_PREFIX,
      replicationFactor: settings.TOPIC_REPLICATION_FACTOR,
      rawPartitions: settings.RAW_PARTITIONS,
      eventsPartitions: settings.EVENTS_PARTITIONS,
      outboundPartitions: settings.OUTBOUND_PARTITIONS,
      ...(settings.RAW_RETENTION_MS !== undefined
        ? { rawRetentionMs: settings.RAW_RETENTION_MS }
        : {}),
    });
    const report = await applyTopics(admin, catalogue);
    log(
      `topics: ${report.created.length} created, ${new Set(report.updated.map((c) => c.topic)).size} updated, ${report.unchanged.length} unchanged`,
    );
    if (report.partitionMismatches.length > 0) {
      throw new TopicPartitionMismatchError(report.partitionMismatches);
    }
  } finally {
    await admin.disconnect();
  }
}

/** Stops every server this stack started, in reverse order, and forgets their state. */
export async function stackDown(
  options: { log?: (line: string) => void; purge?: boolean } = {},
): Promise<void> {
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const state = readState();
  for (const [name, instance] of [
    ['kms', state.kms],
    ['kafka', state.kafka],
    ['postgres', state.postgres],
  ] as const) {
    if (!instance) continue;
    if (isAlive(instance.pid)) {
      log(`${name}: stopping pid ${instance.pid}`);
      await stopProcess(instance.pid, name === 'kafka' ? 30_000 : 15_000);
    } else {
      log(`${name}: not running`);
    }
  }
  rmSync(stackEnvFile, { force: true });
  if (options.purge) {
    rmSync(stackDir, { recursive: true, force: true });
    log(`removed ${stackDir}`);
  } else {
    writeState({
      ...(state.kafka ? { kafka: { ...state.kafka, pid: 0 } } : {}),
      ...(state.postgres ? { postgres: { ...state.postgres, pid: 0 } } : {}),
      ...(state.kms ? { kms: { ...state.kms, pid: 0 } } : {}),
    });
  }
}

export interface StackStatusLine {
  name: string;
  running: boolean;
  detail: string;
}

export async function stackStatus(): Promise<StackStatusLine[]> {
  const state = readState();
  const lines: StackStatusLine[] = [];
  if (state.kafka) {
    const running = isAlive(state.kafka.pid) && (await portAnswers(state.kafka.port));
    lines.push({ name: 'kafka', running, detail: `127.0.0.1:${state.kafka.port}` });
  }
  if (state.postgres) {
    const running = isAlive(state.postgres.pid) && (await portAnswers(state.postgres.port));
    lines.push({ name: 'postgres', running, detail: `127.0.0.1:${state.postgres.port}` });
  }
  if (state.kms) {
    const running = isAlive(state.kms.pid) && (await portAnswers(state.kms.port));
    lines.push({ name: 'kms', running, detail: `127.0.0.1:${state.kms.port}` });
  }
  return lines;
}

/** Pids of the servers the stack started, for tests that stop and restart one of them. */
export function stackState(): StackState {
  return readState();
}
