import { KMSClient } from '@aws-sdk/client-kms';
import {
  createDatabase,
  createKafka,
  createLogger,
  type DatabaseHandle,
  GraphClient,
  type Logger,
  loadConfig,
  TokenCrypto,
  type TopicKey,
  topicNames,
} from '@ig-router/core';
import type { Admin, Kafka } from 'kafkajs';
import type { z } from 'zod';
import {
  type CliKafkaConfig,
  type CliKmsConfig,
  cliDatabaseSchema,
  cliGraphSchema,
  cliKafkaSchema,
  cliKmsSchema,
  cliLoggingSchema,
} from './config.js';
import type { CliIo } from './io.js';

export interface KafkaHandle {
  kafka: Kafka;
  config: CliKafkaConfig;
  /** Deployed topic names, with TOPIC_PREFIX. */
  topics: Record<TopicKey, string>;
}

/**
 * Resources a command runs with: its streams, the environment (with `.stack/env` filled in) and
 * clients that are created on first use and closed when the command ends. A command that never
 * uses the database never needs DATABASE_URL.
 */
export class CommandContext {
  private readonly closers: Array<() => Promise<void>> = [];
  private loggerInstance: Logger | undefined;
  private databaseHandle: DatabaseHandle | undefined;
  private kafkaHandle: KafkaHandle | undefined;
  private adminClient: Admin | undefined;
  private tokenCryptoInstance: TokenCrypto | undefined;
  private graphClient: GraphClient | undefined;

  constructor(
    readonly io: CliIo,
    /** The environment after `.stack/env` was merged in. */
    readonly env: NodeJS.ProcessEnv,
  ) {}

  /** Parses a group of settings from the environment; throws ConfigError naming each variable. */
  settings<S extends z.ZodType>(schema: S): z.output<S> {
    return loadConfig(schema, this.env);
  }

  /** Logger writing JSON lines to stderr at LOG_LEVEL (default warn), with secrets redacted. */
  logger(): Logger {
    if (!this.loggerInstance) {
      const { LOG_LEVEL } = this.settings(cliLoggingSchema);
      this.loggerInstance = createLogger({
        service: 'igr',
        level: LOG_LEVEL,
        destination: this.io.stderr,
      });
    }
    return this.loggerInstance;
  }

  database(): DatabaseHandle {
    if (!this.databaseHandle) {
      const handle = createDatabase(this.settings(cliDatabaseSchema), 2);
      this.databaseHandle = handle;
      this.closers.push(() => handle.close());
    }
    return this.databaseHandle;
  }

  kafka(): KafkaHandle {
    if (!this.kafkaHandle) {
      const config = this.settings(cliKafkaSchema);
      this.kafkaHandle = {
        kafka: createKafka(config, 'igr', this.logger()),
        config,
        topics: topicNames(config.TOPIC_PREFIX),
      };
    }
    return this.kafkaHandle;
  }

  /** Returns a connected admin client, disconnected when the command ends. */
  async admin(): Promise<Admin> {
    if (!this.adminClient) {
      const admin = this.kafka().kafka.admin();
      await admin.connect();
      this.adminClient = admin;
      this.closers.push(() => admin.disconnect());
    }
    return this.adminClient;
  }

  tokenCrypto(): TokenCrypto {
    if (!this.tokenCryptoInstance) {
      const config = this.settings(cliKmsSchema);
      const kms = createCliKmsClient(config);
      this.closers.push(async () => kms.destroy());
      this.tokenCryptoInstance = new TokenCrypto(kms, config.KMS_KEY_ID);
    }
    return this.tokenCryptoInstance;
  }

  /** Graph API client for GRAPH_API_URL and GRAPH_API_VERSION, with a few connections. */
  graph(): GraphClient {
    if (!this.graphClient) {
      const config = this.settings(cliGraphSchema);
      const graph = new GraphClient({
        baseUrl: config.GRAPH_API_URL,
        version: config.GRAPH_API_VERSION,
        connections: 4,
      });
      this.graphClient = graph;
      this.closers.push(() => graph.close());
    }
    return this.graphClient;
  }

  /** Registers a cleanup that runs when the command ends, in reverse order of registration. */
  onClose(closer: () => Promise<void>): void {
    this.closers.push(closer);
  }

  /** Runs every cleanup; a failing cleanup is logged and does not stop the others. */
  async close(): Promise<void> {
    while (this.closers.length > 0) {
      const closer = this.closers.pop();
      try {
        await closer?.();
      } catch (err) {
        this.loggerInstance?.warn({ err }, 'cleanup failed while the command was ending');
      }
    }
  }
}

function createCliKmsClient(config: CliKmsConfig): KMSClient {
  const credentials =
    config.AWS_ACCESS_KEY_ID && config.AWS_SECRET_ACCESS_KEY
      ? {
          accessKeyId: config.AWS_ACCESS_KEY_ID,
          secretAccessKey: config.AWS_SECRET_ACCESS_KEY,
          ...(config.AWS_SESSION_TOKEN ? { sessionToken: config.AWS_SESSION_TOKEN } : {}),
        }
      : undefined;
  return new KMSClient({
    region: config.AWS_REGION,
    ...(config.AWS_ENDPOINT_URL_KMS ? { endpoint: config.AWS_ENDPOINT_URL_KMS } : {}),
    ...(credentials ? { credentials } : {}),
    maxAttempts: 3,
  });
}
