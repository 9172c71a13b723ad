import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@ig-router/core';
import { afterAll, describe, expect, it } from 'vitest';
import { AppsFileError, loadApps, loadGatewayConfig, readAppsFile } from '../src/index.js';

const baseEnv = {
  KAFKA_BROKERS: '127.0.0.1:9092',
  META_APP_SECRET: 'config-test-secret',
  META_VERIFY_TOKEN: 'config-test-token',
};

describe('loadGatewayConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadGatewayConfig(baseEnv);
    expect(config.HOST).toBe('127.0.0.1');
    expect(config.PORT).toBe(3000);
    expect(config.BODY_LIMIT_BYTES).toBe(4 * 1024 * 1024);
    expect(config.PRODUCE_TIMEOUT_MS).toBe(2500);
    expect(config.PRODUCE_LINGER_MS).toBe(2);
    expect(config.PRODUCE_BATCH_MAX_RECORDS).toBe(500);
    expect(config.PRODUCE_BATCH_MAX_BYTES).toBe(1024 * 1024);
    expect(config.PRODUCE_QUEUE_MAX_BYTES).toBe(64 * 1024 * 1024);
    expect(config.GATEWAY_INSTANCE.length).toBeGreaterThan(0);
    expect(config.TOPIC_PREFIX).toBe('');
  });

  it('lists every invalid variable without echoing secrets', () => {
    let error: unknown;
    try {
      loadGatewayConfig({
        KAFKA_BROKERS: '127.0.0.1:9092',
        META_APP_SECRET: 'config-test-secret',
        BODY_LIMIT_BYTES: '102400',
        PRODUCE_TIMEOUT_MS: '6000',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variables.sort()).toEqual([
      'BODY_LIMIT_BYTES',
      'META_VERIFY_TOKEN',
      'PRODUCE_TIMEOUT_MS',
    ]);
    expect((error as Error).message.includes('config-test-secret')).toBe(false);
  });

  it('requires the queue to hold a body of the maximum size', () => {
    expect(() =>
      loadGatewayConfig({
        ...baseEnv,
        BODY_LIMIT_BYTES: String(4 * 1024 * 1024),
        PRODUCE_QUEUE_MAX_BYTES: String(2 * 1024 * 1024),
      }),
    ).toThrow(/PRODUCE_QUEUE_MAX_BYTES/);
  });
});

describe('readAppsFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'igr-apps-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function write(name: string, content: string): string {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  }

  it('reads named apps next to the default app', () => {
    const path = write(
      'apps.json',
      JSON.stringify([
        { name: 'brand-a', app_secret: 'secret-a', verify_token: 'token-a' },
        { name: 'Brand_B', app_secret: 'secret-b', verify_token: 'token-b' },
      ]),
    );
    const apps = loadApps(loadGatewayConfig({ ...baseEnv, META_APPS_FILE: path }));
    expect(apps.names()).toEqual(['default', 'brand-a', 'Brand_B']);
    expect(apps.defaultApp).toEqual({
      name: 'default',
      appSecret: 'config-test-secret',
      verifyToken: 'config-test-token',
    });
    expect(apps.find('brand-a')).toEqual({
      name: 'brand-a',
      appSecret: 'secret-a',
      verifyToken: 'token-a',
    });
    expect(apps.find('brand-c')).toBeUndefined();
  });

  it('rejects invalid files without echoing secrets', () => {
    const cases = [
      { content: '{"name":"x"', pattern: /not valid JSON/ },
      { content: '{}', pattern: /\(file\)/ },
      {
        content: JSON.stringify([{ name: 'a/b', app_secret: 'leaky-secret-1', verify_token: 't' }]),
        pattern: /0\.name/,
      },
      {
        content: JSON.stringify([
          { name: 'default', app_secret: 'leaky-secret-1', verify_token: 't' },
        ]),
        pattern: /reserved/,
      },
      {
        content: JSON.stringify([
          { name: 'a', app_secret: 'leaky-secret-1', verify_token: 't' },
          { name: 'a', app_secret: 'leaky-secret-2', verify_token: 't' },
        ]),
        pattern: /1\.name: duplicate name "a"/,
      },
      {
        content: JSON.stringify([{ name: 'a', app_secret: '', verify_token: 'leaky-secret-1' }]),
        pattern: /0\.app_secret: empty/,
      },
      {
        content: JSON.stringify([
          { name: 'a', app_secret: 'leaky-secret-1', verify_token: 't', extra: 1 },
        ]),
        pattern: /0: .*extra/i,
      },
      {
        content: `[{"name":"a","app_secret":"leaky-secret-1" "verify_token":"t"}]`,
        pattern: /not valid JSON/,
      },
    ];
    for (const [index, { content, pattern }] of cases.entries()) {
      const path = write(`bad-${index}.json`, content);
      let error: unknown;
      try {
        readAppsFile(path);
      } catch (err) {
        error = err;
      }
      expect(error, content).toBeInstanceOf(AppsFileError);
      expect((error as AppsFileError).code).toBe('APPS_FILE_INVALID');
      expect((error as Error).message, content).toMatch(pattern);
      expect((error as Error).message.includes('leaky-secret'), content).toBe(false);
    }
  });

  it('names a file that cannot be read', () => {
    expect(() => readAppsFile(join(dir, 'missing.json'))).toThrow(AppsFileError);
  });
});
