import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  ConfigError,
  databaseEnvSchema,
  envInt,
  kafkaEnvSchema,
  kmsEnvSchema,
  loadConfig,
  parseDotenv,
} from '../src/index.js';

const schema = kafkaEnvSchema
  .extend(databaseEnvSchema.shape)
  .extend(kmsEnvSchema.shape)
  .extend({
    PORT: envInt(3000, 1, 65535),
  });

describe('loadConfig', () => {
  it('parses a complete environment', () => {
    const config = loadConfig(schema, {
      KAFKA_BROKERS: '127.0.0.1:9092, 127.0.0.1:9093',
      DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/db',
      KMS_KEY_ID: 'alias/test',
      PORT: '8080',
    });
    expect(config.KAFKA_BROKERS).toEqual(['127.0.0.1:9092', '127.0.0.1:9093']);
    expect(config.PORT).toBe(8080);
    expect(config.AWS_REGION).toBe('eu-west-2');
    expect(config.TOPIC_PREFIX).toBe('');
    expect(config.KAFKA_SSL).toBe(false);
  });

  it('names a missing required variable', () => {
    let error: unknown;
    try {
      loadConfig(schema, { DATABASE_URL: 'postgres://127.0.0.1/db', KMS_KEY_ID: 'k' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('CONFIG_INVALID');
    expect((error as ConfigError).variables).toEqual(['KAFKA_BROKERS']);
    expect((error as ConfigError).message).toContain('KAFKA_BROKERS: missing');
  });

  it('lists every invalid variable at once', () => {
    let error: ConfigError | undefined;
    try {
      loadConfig(schema, { KAFKA_BROKERS: 'b:9092', PORT: '70000', KAFKA_SSL: 'maybe' });
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error?.variables.sort()).toEqual(['DATABASE_URL', 'KAFKA_SSL', 'KMS_KEY_ID', 'PORT']);
    expect(error?.message).toContain('PORT: expected a whole number from 1 to 65535, got "70000"');
    expect(error?.message).toContain('KAFKA_SSL: expected true or false');
  });

  it('treats a variable set to the empty string as unset', () => {
    const config = loadConfig(schema, {
      KAFKA_BROKERS: '127.0.0.1:9092',
      DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/db',
      KMS_KEY_ID: 'alias/test',
      KAFKA_SASL_MECHANISM: '',
      AWS_ENDPOINT_URL_KMS: '',
      KAFKA_SSL: '',
      PORT: '',
    });
    expect(config.KAFKA_SASL_MECHANISM).toBeUndefined();
    expect(config.AWS_ENDPOINT_URL_KMS).toBeUndefined();
    expect(config.KAFKA_SSL).toBe(false);
    expect(config.PORT).toBe(3000);
    expect(() =>
      loadConfig(schema, { KAFKA_BROKERS: '', DATABASE_URL: 'x', KMS_KEY_ID: 'k' }),
    ).toThrow(/KAFKA_BROKERS: missing/);
  });

  it('rejects a broker without a port and a DATABASE_URL that is not a PostgreSQL URL', () => {
    let error: ConfigError | undefined;
    try {
      loadConfig(schema, {
        KAFKA_BROKERS: '127.0.0.1:9092,not-a-broker',
        DATABASE_URL: 'garbage',
        KMS_KEY_ID: 'k',
      });
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error?.variables.sort()).toEqual(['DATABASE_URL', 'KAFKA_BROKERS']);
    expect(error?.message).toContain('got "not-a-broker"');
    expect(error?.message).toContain('DATABASE_URL: expected a PostgreSQL URL');
  });

  it('rejects an empty broker list', () => {
    expect(() =>
      loadConfig(z.object({ KAFKA_BROKERS: kafkaEnvSchema.shape.KAFKA_BROKERS }), {
        KAFKA_BROKERS: ' , ',
      }),
    ).toThrow(/KAFKA_BROKERS: expected a comma-separated list/);
  });
});

describe('parseDotenv', () => {
  it('reads keys, skips comments and unquotes values', () => {
    expect(parseDotenv('# comment\nA=1\n\nB="x y"\nC=a=b\n')).toEqual({
      A: '1',
      B: 'x y',
      C: 'a=b',
    });
  });
});
