import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CapturedLogger,
  captureLogger,
  createTestTopics,
  eventually,
  type TestTopics,
} from '@ig-router/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningGateway, startGateway } from '../src/index.js';
import {
  type CollectedRecord,
  headerText,
  httpRequest,
  igBusinessId,
  messagingBody,
  postSigned,
  RecordCollector,
  randomSecret,
  signature1,
  signature256,
} from './helpers.js';

const MIB = 1024 * 1024;

describe('gateway webhook ingest', () => {
  const appSecret = randomSecret('default-secret');
  const verifyToken = randomSecret('default-token');
  const brandA = {
    name: 'brand-a',
    app_secret: randomSecret('a-secret'),
    verify_token: randomSecret('a-token'),
  };
  const brandB = {
    name: 'brand-b',
    app_secret: randomSecret('b-secret'),
    verify_token: randomSecret('b-token'),
  };
  const secrets = [
    appSecret,
    verifyToken,
    brandA.app_secret,
    brandA.verify_token,
    brandB.app_secret,
    brandB.verify_token,
  ];

  let topics: TestTopics;
  let gateway: RunningGateway;
  let capture: CapturedLogger;
  let tempDir: string;
  const collector = new RecordCollector();

  beforeAll(async () => {
    topics = await createTestTopics('gateway', 1);
    tempDir = mkdtempSync(join(tmpdir(), 'igr-gateway-'));
    const appsFile = join(tempDir, 'apps.json');
    writeFileSync(appsFile, JSON.stringify([brandA, brandB]));
    capture = captureLogger('gateway');
    const { testGatewayConfig } = await import('./helpers.js');
    gateway = await startGateway(
      testGatewayConfig({
        prefix: topics.prefix,
        appSecret,
        verifyToken,
        extra: { META_APPS_FILE: appsFile, BODY_LIMIT_BYTES: String(MIB) },
      }),
      {
        logger: capture.logger,
        rejectionLogIntervalMs: 10 * 60_000,
        configure: (app) => {
          app.post('/test/echo-json', async (request) => ({ parsed: request.body }));
        },
      },
    );
    await collector.start(topics.kafka, topics.names.raw);
  });

  afterAll(async () => {
    await gateway?.close();
    await collector.stop();
    await topics?.cleanup();
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  });

  async function storedRecord(requestId: string | string[] | undefined): Promise<CollectedRecord> {
    expect(typeof requestId).toBe('string');
    return eventually(`ig.raw record of request ${requestId}`, () =>
      collector.byRequestId(requestId as string),
    );
  }

  async function rawRecordCount(): Promise<number> {
    const offsets = await topics.admin.fetchTopicOffsets(topics.names.raw);
    return offsets.reduce((sum, partition) => sum + Number(partition.high), 0);
  }

  it('stores Meta-escaped bodies byte for byte', async () => {
    const texts = [
      'caf\\u00e9 cr\\u00e8me br\\u00fbl\\u00e9e',
      'smile \\ud83d\\ude00 and heart \\u2764\\ufe0f',
      'see https:\\/\\/example.com\\/a\\/b and write to user\\u0040example.com',
      'quote \\" backslash \\\\ tab \\t newline \\n',
    ];
    for (const text of texts) {
      const entryId = igBusinessId();
      const body = Buffer.from(messagingBody(entryId, text), 'ascii');
      const before = Date.now();
      const response = await postSigned(gateway.url, '/webhook', body, appSecret);
      const after = Date.now();
      expect(response.status).toBe(200);

      const record = await storedRecord(response.headers['x-request-id']);
      expect(record.value?.equals(body)).toBe(true);
      expect(record.key).toBe(entryId);
      expect(headerText(record.headers['x-hub-signature-256'])).toBe(signature256(body, appSecret));
      expect(headerText(record.headers['igr-app'])).toBe('default');
      expect(headerText(record.headers['igr-gateway-instance'])).toBe('gateway-test');
      const receivedAt = Number(headerText(record.headers['igr-received-at']));
      expect(receivedAt).toBeGreaterThanOrEqual(before);
      expect(receivedAt).toBeLessThanOrEqual(after);
      expect(record.timestamp).toBe(String(receivedAt));
    }
  });

  it('stores a 300 KB body byte for byte', async () => {
    const entryId = igBusinessId();
    const items: string[] = [];
    for (let i = 0; items.join(',').length < 310 * 1024; i++) {
      items.push(
        `{"sender":{"id":"1234567890123456"},"recipient":{"id":"${entryId}"},"timestamp":${1733312345000 + i},` +
          `"message":{"mid":"m-${i}","text":"\\u00e9t\\u00e9 \\ud83c\\udf1e https:\\/\\/example.com\\/${i} \\u0040brand"}}`,
      );
    }
    const body = Buffer.from(
      `{"object":"instagram","entry":[{"time":1733312345678,"id":"${entryId}","messaging":[${items.join(',')}]}]}`,
      'ascii',
    );
    expect(body.length).toBeGreaterThan(300 * 1024);

    const response = await postSigned(gateway.url, '/webhook', body, appSecret);
    expect(response.status).toBe(200);
    const record = await storedRecord(response.headers['x-request-id']);
    expect(record.value?.length).toBe(body.length);
    expect(record.value?.equals(body)).toBe(true);
  });

  it('keys records by the first entry id as a string', async () => {
    const cases = [
      { body: messagingBody('17841400000000001', 'hi'), key: '17841400000000001' },
      // Above 2^53: JSON.parse would round it, so the key keeps the digits as sent.
      {
        body: '{"object":"instagram","entry":[{"id":17841400000000123,"time":1},{"id":"2","time":1}]}',
        key: '17841400000000123',
      },
      { body: '{"object":"instagram","entry":[{"id":42,"time":1}]}', key: '42' },
      { body: '{"object":"instagram","entry":[]}', key: null },
      { body: '{"object":"instagram","entry":[{"time":1}]}', key: null },
      { body: 'this is not JSON', key: null },
    ];
    for (const { body, key } of cases) {
      const response = await postSigned(gateway.url, '/webhook', body, appSecret);
      expect(response.status).toBe(200);
      const record = await storedRecord(response.headers['x-request-id']);
      expect(record.key).toBe(key);
      expect(record.value?.toString('utf8')).toBe(body);
    }
  });

  it('stores unknown objects, unknown fields and empty entries', async () => {
    const bodies = [
      '{"object":"something_new","entry":[{"id":"17841400000000002","time":1,"new_field":{"x":[1,2]}}]}',
      '{"object":"instagram","entry":[],"unexpected":true}',
      '{"object":"instagram","entry":[{"id":"17841400000000003","time":1,"changes":[{"field":"unknown_field","value":{}}]}]}',
      '[]',
    ];
    for (const body of bodies) {
      const response = await postSigned(gateway.url, '/webhook', body, appSecret);
      expect(response.status).toBe(200);
      const record = await storedRecord(response.headers['x-request-id']);
      expect(record.value?.toString('utf8')).toBe(body);
    }
  });

  it('accepts any content type, or none', async () => {
    const body = messagingBody(igBusinessId(), 'content types');
    for (const contentType of [
      'application/json',
      'application/json; charset=utf-8',
      'text/plain',
      undefined,
    ]) {
      const headers: Record<string, string> = {
        'x-hub-signature-256': signature256(body, appSecret),
      };
      if (contentType) headers['content-type'] = contentType;
      const response = await httpRequest(`${gateway.url}/webhook`, {
        method: 'POST',
        headers,
        body,
      });
      expect(response.status).toBe(200);
    }
  });

  it('reads the signature header in any case', async () => {
    for (const name of ['X-Hub-Signature-256', 'x-hub-signature-256', 'X-HUB-SIGNATURE-256']) {
      const body = messagingBody(igBusinessId(), `header ${name}`);
      const response = await httpRequest(`${gateway.url}/webhook`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', [name]: signature256(body, appSecret) },
        body,
      });
      expect(response.status).toBe(200);
      const record = await storedRecord(response.headers['x-request-id']);
      expect(headerText(record.headers['x-hub-signature-256'])).toBe(signature256(body, appSecret));
    }
  });

  it('rejects bad signatures with 403 and writes nothing', async () => {
    const body = messagingBody(igBusinessId(), 'caf\\u00e9');
    const good = signature256(body, appSecret);
    const changedBody = body.replace('caf', 'cag');
    const lastHex = good.at(-1) === '0' ? '1' : '0';
    const cases: Array<{
      name: string;
      body: string;
      headers: Record<string, string>;
      code: string;
    }> = [
      {
        name: 'one body byte changed',
        body: changedBody,
        headers: { 'X-Hub-Signature-256': good },
        code: 'SIGNATURE_MISMATCH',
      },
      {
        name: 'one signature digit changed',
        body,
        headers: { 'X-Hub-Signature-256': `${good.slice(0, -1)}${lastHex}` },
        code: 'SIGNATURE_MISMATCH',
      },
      {
        name: 'signed with another secret',
        body,
        headers: { 'X-Hub-Signature-256': signature256(body, brandA.app_secret) },
        code: 'SIGNATURE_MISMATCH',
      },
      { name: 'header missing', body, headers: {}, code: 'SIGNATURE_MISSING' },
      {
        name: 'sha1 header only',
        body,
        headers: { 'X-Hub-Signature': signature1(body, appSecret) },
        code: 'SIGNATURE_MISSING',
      },
      {
        name: 'sha1 value in the sha256 header',
        body,
        headers: { 'X-Hub-Signature-256': signature1(body, appSecret) },
        code: 'SIGNATURE_MALFORMED',
      },
      {
        name: 'prefix missing',
        body,
        headers: { 'X-Hub-Signature-256': good.slice('sha256='.length) },
        code: 'SIGNATURE_MALFORMED',
      },
      {
        name: 'digest truncated',
        body,
        headers: { 'X-Hub-Signature-256': good.slice(0, -2) },
        code: 'SIGNATURE_MALFORMED',
      },
      { name: 'empty body, unsigned', body: '', headers: {}, code: 'BODY_EMPTY' },
      {
        name: 'empty body, signed',
        body: '',
        headers: { 'X-Hub-Signature-256': signature256('', appSecret) },
        code: 'BODY_EMPTY',
      },
    ];

    const countBefore = await rawRecordCount();
    for (const testCase of cases) {
      const response = await httpRequest(`${gateway.url}/webhook`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...testCase.headers },
        body: testCase.body,
      });
      expect(response.status, testCase.name).toBe(403);
      expect(JSON.parse(response.text).code, testCase.name).toBe(testCase.code);
    }
    expect(await rawRecordCount()).toBe(countBefore);
  });

  it('answers 413 above the body limit and writes nothing', async () => {
    const countBefore = await rawRecordCount();
    const tooLarge = Buffer.alloc(MIB + 1, 0x61);
    const response = await postSigned(gateway.url, '/webhook', tooLarge, appSecret);
    expect(response.status).toBe(413);
    expect(JSON.parse(response.text).code).toBe('BODY_TOO_LARGE');
    expect(await rawRecordCount()).toBe(countBefore);

    const atLimit = Buffer.alloc(MIB, 0x61);
    const accepted = await postSigned(gateway.url, '/webhook', atLimit, appSecret);
    expect(accepted.status).toBe(200);
    const record = await storedRecord(accepted.headers['x-request-id']);
    expect(record.value?.equals(atLimit)).toBe(true);
  });

  it('answers the handshake with the exact challenge', async () => {
    const challenge = '1158201444';
    const query = new URLSearchParams({
      'hub.mode': 'subscribe',
      'hub.verify_token': verifyToken,
      'hub.challenge': challenge,
    });
    const response = await httpRequest(`${gateway.url}/webhook?${query}`, { method: 'GET' });
    expect(response.status).toBe(200);
    expect(String(response.headers['content-type'])).toMatch(/^text\/plain/);
    expect(response.text).toBe(challenge);
  });

  it('rejects handshakes without the right token', async () => {
    const queries: Array<Record<string, string>> = [
      { 'hub.mode': 'subscribe', 'hub.verify_token': 'wrong-token', 'hub.challenge': '1' },
      { 'hub.mode': 'subscribe', 'hub.verify_token': `${verifyToken}x`, 'hub.challenge': '1' },
      { 'hub.mode': 'subscribe', 'hub.challenge': '1' },
      { 'hub.mode': 'subscribe', 'hub.verify_token': '', 'hub.challenge': '1' },
      { 'hub.mode': 'unsubscribe', 'hub.verify_token': verifyToken, 'hub.challenge': '1' },
      { 'hub.verify_token': verifyToken, 'hub.challenge': '1' },
      { 'hub.mode': 'subscribe', 'hub.verify_token': verifyToken },
      { 'hub.mode': 'subscribe', 'hub.verify_token': brandA.verify_token, 'hub.challenge': '1' },
    ];
    for (const query of queries) {
      const response = await httpRequest(`${gateway.url}/webhook?${new URLSearchParams(query)}`, {
        method: 'GET',
      });
      expect(response.status, JSON.stringify(Object.keys(query))).toBe(403);
    }
  });

  it('names the failed handshake check in the 403 body', async () => {
    const query = {
      'hub.mode': 'subscribe',
      'hub.verify_token': 'wrong-token',
      'hub.challenge': '1',
    };
    const response = await httpRequest(`${gateway.url}/webhook?${new URLSearchParams(query)}`, {
      method: 'GET',
    });
    expect(response.status).toBe(403);
    expect(JSON.parse(response.text)).toEqual({
      code: 'VERIFY_TOKEN_MISMATCH',
      message: 'hub.verify_token does not match the verify token of this app',
    });
  });

  it('verifies named apps with their own secret only', async () => {
    const body = messagingBody(igBusinessId(), 'named app');
    const own = await postSigned(gateway.url, '/webhook/brand-a', body, brandA.app_secret);
    expect(own.status).toBe(200);
    const record = await storedRecord(own.headers['x-request-id']);
    expect(headerText(record.headers['igr-app'])).toBe('brand-a');
    expect(record.value?.toString('utf8')).toBe(body);

    const countBefore = await rawRecordCount();
    const crossed = [
      { path: '/webhook/brand-a', secret: brandB.app_secret },
      { path: '/webhook/brand-a', secret: appSecret },
      { path: '/webhook/brand-b', secret: brandA.app_secret },
      { path: '/webhook', secret: brandA.app_secret },
    ];
    for (const { path, secret } of crossed) {
      const response = await postSigned(gateway.url, path, body, secret);
      expect(response.status, path).toBe(403);
    }
    expect(await rawRecordCount()).toBe(countBefore);

    const handshake = (path: string, token: string) =>
      httpRequest(
        `${gateway.url}${path}?${new URLSearchParams({ 'hub.mode': 'subscribe', 'hub.verify_token': token, 'hub.challenge': '77' })}`,
        { method: 'GET' },
      );
    expect((await handshake('/webhook/brand-b', brandB.verify_token)).text).toBe('77');
    expect((await handshake('/webhook/brand-b', brandA.verify_token)).status).toBe(403);
    expect((await handshake('/webhook/brand-b', verifyToken)).status).toBe(403);

    const unknown = await postSigned(gateway.url, '/webhook/brand-z', body, brandA.app_secret);
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.text).code).toBe('APP_NOT_FOUND');
  });

  it('keeps JSON parsing for routes added by configure', async () => {
    const response = await httpRequest(`${gateway.url}/test/echo-json`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":"caf\\u00e9"}',
    });
    expect(response.status).toBe(200);
    expect(JSON.parse(response.text)).toEqual({ parsed: { a: 'café' } });
  });

  it('serves health, readiness and metrics', async () => {
    expect((await httpRequest(`${gateway.url}/healthz`, { method: 'GET' })).status).toBe(200);
    const ready = await httpRequest(`${gateway.url}/readyz`, { method: 'GET' });
    expect(ready.text).toBe('ready\n');
    expect(ready.status).toBe(200);

    const metrics = (await httpRequest(`${gateway.url}/metrics`, { method: 'GET' })).text;
    expect(metrics).toMatch(
      /igr_gateway_requests_total\{route="\/webhook",method="POST",status="200",service="gateway"\} \d+/,
    );
    expect(metrics).toMatch(
      /igr_gateway_requests_total\{route="\/webhook",method="POST",status="403",service="gateway"\} \d+/,
    );
    expect(metrics).toMatch(
      /igr_gateway_signature_failures_total\{app="default",reason="mismatch",service="gateway"\} [1-9]/,
    );
    expect(metrics).toMatch(
      /igr_gateway_signature_failures_total\{app="default",reason="sha1_only",service="gateway"\} 1\n/,
    );
    expect(metrics).toMatch(
      /igr_gateway_received_bytes_total\{app="default",service="gateway"\} [1-9]/,
    );
    expect(metrics).toMatch(
      /igr_gateway_produce_duration_seconds_count\{service="gateway"\} [1-9]/,
    );
    expect(metrics).toMatch(/igr_gateway_produce_batch_records_count\{service="gateway"\} [1-9]/);
  });

  it('logs each rejection reason once per interval with its app', async () => {
    const body = messagingBody(igBusinessId(), 'flood');
    for (let i = 0; i < 5; i++) {
      const response = await postSigned(gateway.url, '/webhook/brand-b', body, 'not-the-secret');
      expect(response.status).toBe(403);
    }
    const lines = capture
      .records()
      .filter(
        (line) =>
          line.msg === 'webhook request rejected' &&
          line.app === 'brand-b' &&
          line.reason === 'mismatch',
      );
    expect(lines).toHaveLength(1);
    expect(lines[0]?.remote_address).toBe('127.0.0.1');
    expect(lines[0]?.code).toBe('SIGNATURE_MISMATCH');
    expect(lines[0]?.status).toBe(403);
  });

  it('writes no secret, token or body to any log line', async () => {
    await gateway.close();
    const text = capture.text();
    expect(capture.lines().length).toBeGreaterThan(0);
    for (const secret of secrets) {
      expect(text.includes(secret), 'a secret or verify token is in the logs').toBe(false);
    }
    expect(text.includes('caf\\\\u00e9')).toBe(false);
    expect(text.includes('"hub.verify_token"')).toBe(false);
  });
});
