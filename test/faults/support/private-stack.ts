import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyTopics,
  createDatabase,
  createKafka,
  createLogger,
  migrateUp,
  type TopicKey,
  topicCatalogue,
  topicNames,
} from '@ig-router/core';
import { testEnv } from '@ig-router/testkit';
import type { Kafka } from 'kafkajs';
import {
  checkKafkaPrerequisites,
  ensureKafkaJars,
  type KafkaInstance,
  startKafka,
} from '../../../infra/local/src/kafka.js';
import {
  ensureDatabase,
  POSTGRES_DATABASE,
  type PostgresInstance,
  postgresAnswers,
  postgresUrl,
  startPostgres,
} from '../../../infra/local/src/postgres.js';
import { freePort, isAlive, portAnswers, waitFor } from '../../../infra/local/src/processes.js';
import { trackFolder, trackServer, untrackFolder, untrackServer } from './services.js';

/** Partitions of every topic the suite creates; small, so a 2-core machine keeps up. */
export const FAULT_PARTITIONS = 3;

/**
 * A Kafka broker and a PostgreSQL server of the fault suite alone, in a temporary folder and
 * on their own ports on 127.0.0.1, so stopping them leaves the shared local stack alone. KMS
 * comes from the test stack (it is never faulted).
 */
export class PrivateStack {
  readonly baseDir: string;
  readonly kafkaPort: number;
  readonly controllerPort: number;
  readonly postgresPort: number;
  readonly postgresPassword = randomBytes(12).toString('hex');
  /** File given to the services as IGR_STACK_ENV, so they never read the shared `.stack/env`. */
  readonly envFile: string;
  kafka?: KafkaInstance;
  postgres?: PostgresInstance;
  private readonly log: (line: string) => void;

  private constructor(
    baseDir: string,
    ports: [number, number, number],
    log: (line: string) => void,
  ) {
    this.baseDir = baseDir;
    [this.kafkaPort, this.controllerPort, this.postgresPort] = ports;
    this.envFile = join(baseDir, 'stack.env');
    this.log = log;
  }

  static async start(log: (line: string) => void): Promise<PrivateStack> {
    checkKafkaPrerequisites();
    ensureKafkaJars(log);
    const baseDir = mkdtempSync(join(tmpdir(), 'igr-faults-'));
    trackFolder(baseDir);
    const stack = new PrivateStack(
      baseDir,
      [await freePort(), await freePort(), await freePort()],
      log,
    );
    try {
      await Promise.all([stack.startKafka(), stack.startPostgres()]);
      await ensureDatabase(
        postgresUrl(stack.postgresPort, stack.postgresPassword, 'postgres'),
        POSTGRES_DATABASE,
      );
      const database = createDatabase({ DATABASE_URL: stack.databaseUrl }, 1);
      try {
        await migrateUp(database.db);
      } finally {
        await database.close();
      }
      // An empty file: the services get every variable from their environment.
      writeFileSync(stack.envFile, '# fault suite: every variable is set in the environment\n');
    } catch (err) {
      await stack.stop();
      throw err;
    }
    return stack;
  }

  get brokers(): string {
    return `127.0.0.1:${this.kafkaPort}`;
  }

  get databaseUrl(): string {
    return postgresUrl(this.postgresPort, this.postgresPassword);
  }

  /** Endpoints and KMS settings every service needs. */
  baseEnv(): Record<string, string> {
    const shared = testEnv();
    return {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      IGR_STACK_ENV: this.envFile,
      KAFKA_BROKERS: this.brokers,
      DATABASE_URL: this.databaseUrl,
      AWS_REGION: shared.AWS_REGION,
      KMS_KEY_ID: shared.KMS_KEY_ID,
      ...(shared.AWS_ENDPOINT_URL_KMS ? { AWS_ENDPOINT_URL_KMS: shared.AWS_ENDPOINT_URL_KMS } : {}),
      ...(process.env.AWS_ACCESS_KEY_ID
        ? { AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID }
        : {}),
      ...(process.env.AWS_SECRET_ACCESS_KEY
        ? { AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY }
        : {}),
    };
  }

  kafkaClient(clientId: string): Kafka {
    return createKafka(
      { KAFKA_BROKERS: [this.brokers], KAFKA_SSL: false },
      clientId,
      createLogger({ service: 'faults', level: 'error' }),
    );
  }

  /** Creates every catalogue topic under `prefix`, with FAULT_PARTITIONS partitions each. */
  async createTopics(prefix: string): Promise<Record<TopicKey, string>> {
    const kafka = this.kafkaClient('faults-topics');
    const admin = kafka.admin();
    await admin.connect();
    try {
      await applyTopics(
        admin,
        topicCatalogue({
          prefix,
          rawPartitions: FAULT_PARTITIONS,
          eventsPartitions: FAULT_PARTITIONS,
          outboundPartitions: FAULT_PARTITIONS,
        }),
      );
    } finally {
      await admin.disconnect();
    }
    return topicNames(prefix);
  }

  async startKafka(): Promise<void> {
    const started = Date.now();
    this.kafka = startKafka(this.baseDir, this.kafkaPort, this.controllerPort);
    const instance = this.kafka;
    trackServer(instance.pid);
    await waitFor(
      'private Kafka broker start',
      () => portAnswers(this.kafkaPort),
      120_000,
      () => (isAlive(instance.pid) ? undefined : `the broker exited; see ${instance.logFile}`),
    );
    this.log(`kafka up on ${this.brokers} in ${Date.now() - started} ms`);
  }

  /** Stops the broker with SIGTERM (a controlled shutdown), SIGKILL after 30 s. */
  async stopKafka(): Promise<void> {
    if (!this.kafka) return;
    await stopGroup(this.kafka.pid, 'SIGTERM', 30_000);
    untrackServer(this.kafka.pid);
    this.log('kafka stopped');
  }

  async startPostgres(): Promise<void> {
    const started = Date.now();
    this.postgres = await startPostgres(this.baseDir, this.postgresPort, this.postgresPassword);
    const instance = this.postgres;
    trackServer(instance.pid);
    await waitFor(
      'private PostgreSQL start',
      () => postgresAnswers(this.postgresPort, this.postgresPassword),
      60_000,
      () => (isAlive(instance.pid) ? undefined : `the server exited; see ${instance.logFile}`),
    );
    this.log(`postgres up on 127.0.0.1:${this.postgresPort} in ${Date.now() - started} ms`);
  }

  /**
   * Stops PostgreSQL with SIGINT (fast shutdown: open sessions are ended), SIGKILL after 20 s.
   * SIGTERM would wait for every client to disconnect, which pooled services never do.
   */
  async stopPostgres(): Promise<void> {
    if (!this.postgres) return;
    await stopGroup(this.postgres.pid, 'SIGINT', 20_000);
    untrackServer(this.postgres.pid);
    this.log('postgres stopped');
  }

  /** Stops both servers and removes the folder unless IGR_FAULTS_KEEP=1. */
  async stop(): Promise<void> {
    await Promise.all([this.stopKafka().catch(() => {}), this.stopPostgres().catch(() => {})]);
    if (process.env.IGR_FAULTS_KEEP === '1') {
      this.log(`kept ${this.baseDir}`);
    } else {
      rmSync(this.baseDir, { recursive: true, force: true });
    }
    untrackFolder(this.baseDir);
  }
}

/**
 * Sends `signal` to `pid`, then SIGKILL to the process group it leads (the local stack starts
 * servers detached, so each leads its own group) after `graceMs`.
 */
export async function stopGroup(
  pid: number,
  signal: NodeJS.Signals,
  graceMs: number,
): Promise<void> {
  if (!isAlive(pid)) return;
  try {
    process.kill(pid, signal);
  } catch {}
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
  }
  while (isAlive(pid)) await sleep(50);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolveSleep) => setTimeout(resolveSleep, ms));
}
