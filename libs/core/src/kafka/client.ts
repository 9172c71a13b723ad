import kafkajs, {
  type Kafka,
  type KafkaConfig,
  type LogEntry,
  type Producer,
  type ProducerConfig,
  type SASLOptions,
} from 'kafkajs';
import type { Logger } from '../logger.js';

// kafkajs is CommonJS; Node cannot see every named export, so values come from the default.
const { Kafka: KafkaClient, logLevel: KafkaLogLevel, Partitioners } = kafkajs;

export interface KafkaSettings {
  KAFKA_BROKERS: string[];
  KAFKA_CLIENT_ID?: string | undefined;
  KAFKA_SSL: boolean;
  KAFKA_SASL_MECHANISM?: 'plain' | 'scram-sha-256' | 'scram-sha-512' | undefined;
  KAFKA_SASL_USERNAME?: string | undefined;
  KAFKA_SASL_PASSWORD?: string | undefined;
}

const pinoLevelByKafkaLevel: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [KafkaLogLevel.ERROR]: 'error',
  [KafkaLogLevel.WARN]: 'warn',
  [KafkaLogLevel.INFO]: 'info',
  [KafkaLogLevel.DEBUG]: 'debug',
};

/** Routes kafkajs's own log lines into the service's pino logger under `component: kafkajs`. */
/**
 * kafkajs warns about this for every idempotent producer with a finite retry count. The limit is
 * deliberate: a send that runs out of retries fails (the gateway answers 503, the router aborts
 * its transaction) instead of blocking, and every reader dedupes by id, so the line is logged at
 * debug only.
 */
const EXPECTED_RETRY_WARNING =
  'Limiting retries for the idempotent producer may invalidate EoS guarantees';

function kafkaLogCreator(logger: Logger) {
  const kafkaLogger = logger.child({ component: 'kafkajs' });
  return () =>
    ({ level, log }: LogEntry) => {
      const { message, timestamp: _timestamp, logger: _name, ...fields } = log;
      const method =
        message === EXPECTED_RETRY_WARNING ? 'debug' : (pinoLevelByKafkaLevel[level] ?? 'info');
      kafkaLogger[method](fields, message);
    };
}

/**
 * Creates a kafkajs client from the shared settings. kafkajs's INFO lines (every group join,
 * every producer connect) are demoted to WARN and above unless the logger runs at debug.
 */
export function createKafka(settings: KafkaSettings, clientId: string, logger: Logger): Kafka {
  const config: KafkaConfig = {
    clientId: settings.KAFKA_CLIENT_ID ?? clientId,
    brokers: settings.KAFKA_BROKERS,
    ssl: settings.KAFKA_SSL,
    logLevel: logger.isLevelEnabled('debug') ? KafkaLogLevel.INFO : KafkaLogLevel.WARN,
    logCreator: kafkaLogCreator(logger),
    connectionTimeout: 3_000,
    requestTimeout: 30_000,
    retry: { initialRetryTime: 300, retries: 8, maxRetryTime: 10_000 },
  };
  if (settings.KAFKA_SASL_MECHANISM) {
    config.sasl = {
      mechanism: settings.KAFKA_SASL_MECHANISM,
      username: settings.KAFKA_SASL_USERNAME ?? '',
      password: settings.KAFKA_SASL_PASSWORD ?? '',
    } as SASLOptions;
  }
  return new KafkaClient(config);
}

/**
 * Creates an idempotent producer: `acks=all` is implied by idempotence, one request in flight
 * keeps order, and the Java-compatible murmur2 partitioner places keys where Java, Go and
 * Flink clients expect them.
 */
export function createIdempotentProducer(
  kafka: Kafka,
  options: Omit<ProducerConfig, 'idempotent' | 'maxInFlightRequests' | 'createPartitioner'> = {},
): Producer {
  return kafka.producer({
    ...options,
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
}

/** Creates a transactional producer with the given transactional id (one per input partition). */
export function createTransactionalProducer(
  kafka: Kafka,
  transactionalId: string,
  options: Omit<
    ProducerConfig,
    'idempotent' | 'maxInFlightRequests' | 'createPartitioner' | 'transactionalId'
  > = {},
): Producer {
  return kafka.producer({
    transactionTimeout: 60_000,
    ...options,
    transactionalId,
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
}
