import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyTopics, createKafka, topicCatalogue, topicNames } from '@ig-router/core';
import { captureLogger, eventually, readTopic, uniqueId } from '@ig-router/testkit';
import type { Admin, Kafka } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { type KafkaInstance, startKafka } from '../../../infra/local/src/kafka.js';
import {
  freePort,
  isAlive,
  portAnswers,
  stopProcess,
  waitFor,
} from '../../../infra/local/src/processes.js';
import { type RunningGateway, startGateway } from '../src/index.js';
import {
  httpRequest,
  igBusinessId,
  messagingBody,
  postSigned,
  randomSecret,
  testGatewayConfig,
} from './helpers.js';

const PRODUCE_TIMEOUT_MS = 1_500;
// Time for the 503 to travel back and for a loaded machine; the bound stays under Meta's 5 s.
const RESPONSE_SLACK_MS = 1_500;

/**
 * Runs against a private single-node broker, so stopping it does not disturb the shared one
 * that other test files use.
 */
describe('gateway during a Kafka outage', () => {
  const appSecret = randomSecret('outage-secret');
  const verifyToken = randomSecret('outage-token');
  const baseDir = mkdtempSync(join(tmpdir(), 'igr-gateway-kafka-'));
  const capture = captureLogger('gateway');
  let broker: KafkaInstance | undefined;
  let kafka: Kafka | undefined;
  let admin: Admin | undefined;
  let gateway: RunningGateway | undefined;

  async function startBroker(port: number, controllerPort: number): Promise<KafkaInstance> {
    // A smaller heap than the shared broker's, because this one contains a single topic.
    process.env.IGR_KAFKA_HEAP ??= '-Xms128m -Xmx384m';
    const instance = startKafka(baseDir, port, controllerPort);
    await waitFor(
      'private Kafka broker start',
      async () => portAnswers(port),
      90_000,
      () => (isAlive(instance.pid) ? undefined : `the broker exited; see ${instance.logFile}`),
    );
    return instance;
  }

  afterAll(async () => {
    await gateway?.close();
    await admin?.disconnect().catch(() => {});
    await stopProcess(broker?.pid);
    rmSync(baseDir, { recursive: true, force: true });
  });

  it('answers 503 while the broker is down and recovers after it returns', {
    timeout: 240_000,
  }, async () => {
    const port = await freePort();
    const controllerPort = await freePort();
    broker = await startBroker(port, controllerPort);

    const prefix = `t.${uniqueId('outage')}.`;
    const brokers = `127.0.0.1:${port}`;
    kafka = createKafka(
      { KAFKA_BROKERS: [brokers], KAFKA_SSL: false },
      'gateway-outage-test',
      capture.logger,
    );
    admin = kafka.admin();
    await eventually(
      'topic creation on the private broker',
      async () => {
        await (admin as Admin).connect();
        const rawSpec = topicCatalogue({ prefix, rawPartitions: 1 }).filter(
          (spec) => spec.key === 'raw',
        );
        await applyTopics(admin as Admin, rawSpec);
        return true;
      },
      60_000,
      500,
    );

    gateway = await startGateway(
      testGatewayConfig({
        prefix,
        appSecret,
        verifyToken,
        brokers,
        extra: { PRODUCE_TIMEOUT_MS: String(PRODUCE_TIMEOUT_MS) },
      }),
      { logger: capture.logger },
    );
    const url = gateway.url;
    const readyz = async () => (await httpRequest(`${url}/readyz`, { method: 'GET' })).status;

    const before = await postSigned(
      url,
      '/webhook',
      messagingBody(igBusinessId(), 'before'),
      appSecret,
    );
    expect(before.status).toBe(200);
    expect(await readyz()).toBe(200);

    await stopProcess(broker.pid);

    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      const during = await postSigned(
        url,
        '/webhook',
        messagingBody(igBusinessId(), `during ${i}`),
        appSecret,
      );
      const elapsedMs = Date.now() - started;
      expect(during.status).toBe(503);
      expect(JSON.parse(during.text).code).toMatch(/^(PRODUCE_TIMEOUT|KAFKA_UNAVAILABLE)$/);
      expect(elapsedMs).toBeLessThanOrEqual(PRODUCE_TIMEOUT_MS + RESPONSE_SLACK_MS);
    }
    await eventually('/readyz to answer 503', async () => (await readyz()) === 503, 30_000, 200);

    broker = await startBroker(port, controllerPort);

    const recovered = await eventually(
      'a signed POST to succeed after the broker restarted',
      async () => {
        const body = messagingBody(igBusinessId(), 'after');
        const response = await postSigned(url, '/webhook', body, appSecret);
        return response.status === 200 ? { response, body } : undefined;
      },
      120_000,
      500,
    );
    await eventually('/readyz to answer 200', async () => (await readyz()) === 200, 30_000, 200);

    const requestId = recovered.response.headers['x-request-id'] as string;
    const records = await readTopic(kafka, topicNames(prefix).raw, {
      until: (read) => read.some((r) => r.headers['igr-request-id']?.toString() === requestId),
      timeoutMs: 30_000,
    });
    const stored = records.find((r) => r.headers['igr-request-id']?.toString() === requestId);
    expect(stored?.value?.toString('utf8')).toBe(recovered.body);

    await gateway.close();
    const text = capture.text();
    expect(text.includes(appSecret)).toBe(false);
    expect(text.includes(verifyToken)).toBe(false);
  });
});
