import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir } from './paths.js';
import { commandExists, run, startDetached } from './processes.js';

/**
 * Kafka release run by the local stack. 4.4.0 is the newest 4.x release on Maven Central when
 * this was written, and the kafkajs features ig-router uses (idempotent producer, transactions
 * with sendOffsets, consumer groups, compacted topics) are proven against it by
 * infra/local/test/kafka-compat.test.ts.
 */
export const KAFKA_VERSION = process.env.IGR_KAFKA_VERSION ?? '4.4.0';
const LOG4J_VERSION = '2.24.3';
const SLF4J_VERSION = '2.0.17';

export function kafkaLibDir(): string {
  return join(cacheDir, `kafka-${KAFKA_VERSION}`, 'libs');
}

function resolverPom(): string {
  // slf4j-api is pinned to 2.x because Maven's nearest-wins choice otherwise picks 1.7, which
  // the log4j 2 binding cannot serve.
  return `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.ig-router.local</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>${KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>${LOG4J_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>${LOG4J_VERSION}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>${SLF4J_VERSION}</version></dependency>
  </dependencies>
</project>
`;
}

/** Checks the Java and Maven prerequisites and names what to install when one is missing. */
export function checkKafkaPrerequisites(): void {
  if (!commandExists('java', ['-version'])) {
    throw new Error(
      'Java 17 or newer is required to run the local Kafka broker. Install a JDK (for example `apt-get install openjdk-17-jre-headless`), or set KAFKA_BROKERS to an existing Kafka cluster.',
    );
  }
}

/**
 * Resolves the Kafka broker jars with Maven into the cache, once. Later runs reuse them.
 */
export function ensureKafkaJars(log: (line: string) => void): string {
  const libDir = kafkaLibDir();
  if (existsSync(libDir) && readdirSync(libDir).some((f) => f.startsWith('kafka_2.13-'))) {
    return libDir;
  }
  if (!commandExists('mvn', ['-v'])) {
    throw new Error(
      'Maven is required once, to download the Kafka broker jars from Maven Central. Install it (for example `apt-get install maven`), or set KAFKA_BROKERS to an existing Kafka cluster.',
    );
  }
  log(`downloading Apache Kafka ${KAFKA_VERSION} jars with Maven into ${libDir} (first run only)`);
  const resolveDir = join(cacheDir, `kafka-${KAFKA_VERSION}`, 'resolve');
  mkdirSync(resolveDir, { recursive: true });
  writeFileSync(join(resolveDir, 'pom.xml'), resolverPom());
  const partial = `${libDir}.partial`;
  rmSync(partial, { recursive: true, force: true });
  run('mvn', [
    '-q',
    '-B',
    '-f',
    join(resolveDir, 'pom.xml'),
    'dependency:copy-dependencies',
    `-DoutputDirectory=${partial}`,
  ]);
  rmSync(libDir, { recursive: true, force: true });
  run('mv', [partial, libDir]);
  return libDir;
}

export interface KafkaInstance {
  pid: number;
  port: number;
  controllerPort: number;
  dataDir: string;
  logFile: string;
}

function serverProperties(dataDir: string, port: number, controllerPort: number): string {
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.bootstrap.servers=127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    `log.dirs=${join(dataDir, 'logs')}`,
    'num.partitions=3',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=12',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'transaction.state.log.num.partitions=12',
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=false',
    // Tests create many short-lived topics; deleting them must free their files.
    'delete.topic.enable=true',
    'log.cleaner.backoff.ms=1000',
    '',
  ].join('\n');
}

const log4jConfig = (logFile: string) => `Configuration:
  status: warn
  Appenders:
    RollingFile:
      name: file
      fileName: "${logFile}"
      filePattern: "${logFile}.%i"
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
      Policies:
        SizeBasedTriggeringPolicy:
          size: 50 MB
      DefaultRolloverStrategy:
        max: 3
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: file
    Logger:
      - name: kafka.request.logger
        level: WARN
      - name: org.apache.kafka.controller
        level: WARN
      - name: kafka.log.LogCleaner
        level: WARN
`;

/** Formats the KRaft storage once and starts the combined broker and controller. */
export function startKafka(baseDir: string, port: number, controllerPort: number): KafkaInstance {
  const libDir = kafkaLibDir();
  const dataDir = join(baseDir, 'kafka');
  mkdirSync(dataDir, { recursive: true });
  const propertiesFile = join(dataDir, 'server.properties');
  const logFile = join(dataDir, 'server.log');
  const log4jFile = join(dataDir, 'log4j2.yaml');
  writeFileSync(propertiesFile, serverProperties(dataDir, port, controllerPort));
  writeFileSync(log4jFile, log4jConfig(logFile));

  const classpath = `${libDir}/*`;
  const javaOptions = [
    `-Dlog4j2.configurationFile=${log4jFile}`,
    ...(process.env.IGR_KAFKA_HEAP ?? '-Xms256m -Xmx768m').split(/\s+/),
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-Djava.awt.headless=true',
  ];
  if (!existsSync(join(dataDir, 'logs', 'meta.properties'))) {
    const clusterId = newClusterId();
    run('java', [
      ...javaOptions,
      '-cp',
      classpath,
      'kafka.tools.StorageTool',
      'format',
      `--cluster-id=${clusterId}`,
      '-c',
      propertiesFile,
      '--standalone',
      '--ignore-formatted',
    ]);
  }
  const child = startDetached(
    'java',
    [...javaOptions, '-cp', classpath, 'kafka.Kafka', propertiesFile],
    { logFile: join(dataDir, 'stdout.log') },
  );
  return { pid: child.pid, port, controllerPort, dataDir, logFile };
}

/**
 * Returns a random cluster id (16 bytes in base64url, as Kafka's own tool makes them). One in
 * 64 of those starts with '-', which kafka-storage's argument parser took for an option, so
 * such ids are drawn again.
 */
export function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}
