import { GenericContainer, Network, type StartedTestContainer, Wait } from 'testcontainers';

/** Images of the container stack; they match docker-compose.yml. */
export const images = {
  kafka: 'apache/kafka:4.4.0',
  postgres: 'postgres:16-alpine',
  kms: 'nsmithuk/local-kms:3',
};

/**
 * Starts Kafka, PostgreSQL and local-kms with testcontainers. Used only where a Docker engine
 * answers; elsewhere the tests use the local stack.
 */
export async function startContainerStack(): Promise<{
  env: Record<string, string>;
  stop: () => Promise<void>;
}> {
  const network = await new Network().start();
  const kafkaPort = 19092;
  const kafka = await new GenericContainer(images.kafka)
    .withNetwork(network)
    .withExposedPorts({ container: kafkaPort, host: kafkaPort })
    .withEnvironment({
      KAFKA_NODE_ID: '1',
      KAFKA_PROCESS_ROLES: 'broker,controller',
      KAFKA_LISTENERS: `PLAINTEXT://:${kafkaPort},CONTROLLER://:9093`,
      KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://127.0.0.1:${kafkaPort}`,
      KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
      KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
      KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
      KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
      KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
      KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false',
    })
    .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
    .start();
  const postgres = await new GenericContainer(images.postgres)
    .withNetwork(network)
    .withExposedPorts(5432)
    .withEnvironment({ POSTGRES_PASSWORD: 'postgres', POSTGRES_DB: 'igrouter' })
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
    .start();
  const kms = await new GenericContainer(images.kms)
    .withNetwork(network)
    .withExposedPorts(8080)
    .withEnvironment({ KMS_REGION: 'eu-west-2', KMS_ACCOUNT_ID: '111122223333' })
    .withCopyContentToContainer([
      {
        content: `Keys:\n  Symmetric:\n    Aes:\n      - Metadata:\n          KeyId: 6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\n        BackingKeys:\n          - 7a7c0a6a3b0f5c1f6e1d8b2a9c4e3f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4\nAliases:\n  - AliasName: alias/ig-router-local\n    TargetKeyId: 6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\n`,
        target: '/init/seed.yaml',
      },
    ])
    .withWaitStrategy(Wait.forListeningPorts())
    .start();

  const containers: StartedTestContainer[] = [kms, postgres, kafka];
  const env = {
    KAFKA_BROKERS: `127.0.0.1:${kafkaPort}`,
    DATABASE_URL: `postgres://postgres:postgres@${postgres.getHost()}:${postgres.getMappedPort(5432)}/igrouter`,
    AWS_ENDPOINT_URL_KMS: `http://${kms.getHost()}:${kms.getMappedPort(8080)}`,
    AWS_REGION: 'eu-west-2',
    KMS_KEY_ID: 'alias/ig-router-local',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
  };
  // The container stack has no migrations or topics yet; provision them like stack:up does.
  const { provision } = await import('../infra/local/src/stack.js');
  await provision(env, process.env, (line) => process.stdout.write(`[test stack] ${line}\n`));
  return {
    env,
    stop: async () => {
      for (const container of containers) await container.stop();
      await network.stop();
    },
  };
}
