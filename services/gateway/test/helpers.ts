import { createHmac, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { testEnv, uniqueId } from '@ig-router/testkit';
import type { Consumer, IHeaders, Kafka } from 'kafkajs';
import { type GatewayConfig, loadGatewayConfig } from '../src/index.js';

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
}

/**
 * Sends one HTTP request with node:http, which keeps header names exactly as given, so tests
 * can send `X-Hub-Signature-256` in any case.
 */
export function httpRequest(
  url: string,
  options: { method: string; headers?: Record<string, string>; body?: Buffer | string },
): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method, headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body,
          text: body.toString('utf8'),
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

export function signature256(body: Buffer | string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export function signature1(body: Buffer | string, secret: string): string {
  return `sha1=${createHmac('sha1', secret).update(body).digest('hex')}`;
}

/** Posts `body` to `path` signed with `secret`, as Meta does. */
export function postSigned(
  baseUrl: string,
  path: string,
  body: Buffer | string,
  secret: string,
  extraHeaders: Record<string, string> = {},
): Promise<HttpResponse> {
  return httpRequest(`${baseUrl}${path}`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'X-Hub-Signature-256': signature256(body, secret),
      ...extraHeaders,
    },
    body,
  });
}

/** Returns a random secret, so a secret found in the captured logs comes from this test run. */
export function randomSecret(label: string): string {
  return `${label}-${randomBytes(16).toString('hex')}`;
}

/** Returns a 17-digit Instagram professional account id, unique enough for one test run. */
export function igBusinessId(): string {
  return `178414${String(Date.now()).slice(-8)}${String(Math.floor(Math.random() * 1000)).padStart(3, '0')}`;
}

/**
 * Builds a messaging webhook body the way Meta writes it: compact, ASCII-only JSON with
 * `\uXXXX` escapes, `\/` and `\u0040`. `text` must already be escaped that way.
 */
export function messagingBody(entryId: string, text: string, mid = uniqueId('mid')): string {
  return (
    `{"object":"instagram","entry":[{"time":1733312345678,"id":"${entryId}","messaging":[{` +
    `"sender":{"id":"1234567890123456"},"recipient":{"id":"${entryId}"},"timestamp":1733312345000,` +
    `"message":{"mid":"${mid}","text":"${text}"}}]}]}`
  );
}

/** Gateway configuration for a test: the local stack's Kafka, a free port and the given apps. */
export function testGatewayConfig(options: {
  prefix: string;
  appSecret: string;
  verifyToken: string;
  brokers?: string;
  extra?: Record<string, string>;
}): GatewayConfig {
  const env: Record<string, string> = {
    TOPIC_PREFIX: options.prefix,
    HOST: '127.0.0.1',
    PORT: '0',
    META_APP_SECRET: options.appSecret,
    META_VERIFY_TOKEN: options.verifyToken,
    GATEWAY_INSTANCE: 'gateway-test',
    LOG_LEVEL: 'debug',
    ...(options.brokers ? { KAFKA_BROKERS: options.brokers } : {}),
    ...options.extra,
  };
  return loadGatewayConfig({ KAFKA_BROKERS: testEnv().KAFKA_BROKERS, ...env });
}

export interface CollectedRecord {
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer | null;
  headers: IHeaders;
  timestamp: string;
}

/** Reads a topic from the beginning for the whole test file, keeping every record. */
export class RecordCollector {
  readonly records: CollectedRecord[] = [];
  private consumer: Consumer | undefined;

  async start(kafka: Kafka, topic: string): Promise<void> {
    const consumer = kafka.consumer({
      groupId: uniqueId('gateway-test-reader'),
      sessionTimeout: 10_000,
    });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        this.records.push({
          partition,
          offset: message.offset,
          key: message.key ? message.key.toString('utf8') : null,
          value: message.value,
          headers: message.headers ?? {},
          timestamp: message.timestamp,
        });
      },
    });
  }

  byRequestId(requestId: string): CollectedRecord | undefined {
    return this.records.find(
      (record) => headerText(record.headers['igr-request-id']) === requestId,
    );
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect();
  }
}

export function headerText(value: IHeaders[string]): string | undefined {
  if (value === undefined) return undefined;
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined ? undefined : first.toString();
}
