import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  captureLogger,
  createTestTopics,
  eventually,
  readTopic,
  type TestTopics,
  testEnv,
} from '@ig-router/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../infra/local/src/processes.js';
import { startGateway } from '../src/index.js';
import {
  type HttpResponse,
  igBusinessId,
  messagingBody,
  postSigned,
  randomSecret,
  testGatewayConfig,
} from './helpers.js';

const repoRoot = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');

describe('gateway shutdown', () => {
  const appSecret = randomSecret('shutdown-secret');
  const verifyToken = randomSecret('shutdown-token');
  let topics: TestTopics;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    topics = await createTestTopics('gateway-shutdown', 1);
  });

  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await topics?.cleanup();
  });

  it('answers in-flight requests and flushes them on close', async () => {
    const capture = captureLogger('gateway');
    // The maximum linger keeps the records queued until close() flushes them.
    const gateway = await startGateway(
      testGatewayConfig({
        prefix: topics.prefix,
        appSecret,
        verifyToken,
        extra: { PRODUCE_LINGER_MS: '1000', PRODUCE_TIMEOUT_MS: '4500' },
      }),
      { logger: capture.logger },
    );
    const bodies = Array.from({ length: 5 }, (_, i) =>
      messagingBody(igBusinessId(), `in flight ${i}`),
    );
    const responses = bodies.map((body) => postSigned(gateway.url, '/webhook', body, appSecret));

    const totalBytes = bodies.reduce((sum, body) => sum + Buffer.byteLength(body), 0);
    const receivedBytes = gateway.registry.getSingleMetric('igr_gateway_received_bytes_total');
    await eventually('every request to reach the handler', async () => {
      const values = (await receivedBytes?.get())?.values ?? [];
      return values.reduce((sum, value) => sum + value.value, 0) === totalBytes;
    });
    await gateway.close();

    const answered: HttpResponse[] = await Promise.all(responses);
    expect(answered.map((response) => response.status)).toEqual([200, 200, 200, 200, 200]);
    const records = await readTopic(topics.kafka, topics.names.raw, {
      until: (read) => read.length >= 5,
    });
    expect(records.map((record) => record.value?.toString('utf8')).sort()).toEqual(
      [...bodies].sort(),
    );
  });

  it('exits 0 after SIGTERM when started from main.ts', { timeout: 90_000 }, async () => {
    const port = await freePort();
    child = spawn(
      join(repoRoot, 'node_modules', '.bin', 'tsx'),
      ['--conditions=source', join(repoRoot, 'services', 'gateway', 'src', 'main.ts')],
      {
        cwd: repoRoot,
        env: {
          ...process.env,
          KAFKA_BROKERS: testEnv().KAFKA_BROKERS,
          TOPIC_PREFIX: topics.prefix,
          HOST: '127.0.0.1',
          PORT: String(port),
          META_APP_SECRET: appSecret,
          META_VERIFY_TOKEN: verifyToken,
          LOG_LEVEL: 'info',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    const exited = once(child, 'exit');

    await eventually(
      'the gateway to listen',
      () => output.includes('"msg":"gateway listening"'),
      60_000,
    );
    const response = await postSigned(
      `http://127.0.0.1:${port}`,
      '/webhook',
      messagingBody(igBusinessId(), 'from main'),
      appSecret,
    );
    expect(response.status).toBe(200);

    child.kill('SIGTERM');
    const [code] = await exited;
    expect(code).toBe(0);
    expect(output).toContain('"msg":"gateway stopped"');
    expect(output.includes(appSecret)).toBe(false);
    expect(output.includes(verifyToken)).toBe(false);
  });
});
