import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isAlive } from '../src/processes.js';

const cli = join(import.meta.dirname, '..', 'src', 'cli.ts');
const tsx = join(import.meta.dirname, '..', '..', '..', 'node_modules', '.bin', 'tsx');

/** The child must start its own stack, so the test stack's variables are removed. */
function childEnv(stackDir: string, overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, IGR_STACK_DIR: stackDir, ...overrides };
  for (const key of ['KAFKA_BROKERS', 'DATABASE_URL', 'KMS_KEY_ID', 'AWS_ENDPOINT_URL_KMS']) {
    delete env[key];
  }
  env.IGR_STACK_ENV = join(stackDir, 'env');
  return env;
}

function runStack(command: string, env: NodeJS.ProcessEnv) {
  return spawnSync(process.execPath, [tsx, '--conditions=source', cli, command], {
    env,
    encoding: 'utf8',
    timeout: 180_000,
  });
}

describe('stack:up and stack:down', () => {
  const stackDir = mkdtempSync(join(tmpdir(), 'igr-stack-test-'));

  afterAll(() => {
    runStack('down', childEnv(stackDir));
    rmSync(stackDir, { recursive: true, force: true });
  });

  it('starts every server, reuses them, and stops them all', () => {
    const up = runStack('up', childEnv(stackDir));
    expect(up.stderr).not.toMatch(/error|failed/i);
    expect(up.status).toBe(0);
    expect(up.stdout).toContain('endpoints written to .stack/env');
    const envFile = readFileSync(join(stackDir, 'env'), 'utf8');
    expect(envFile).toMatch(/^KAFKA_BROKERS=127\.0\.0\.1:\d+$/m);
    expect(envFile).toMatch(
      /^DATABASE_URL=postgres:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/igrouter$/m,
    );
    expect(envFile).toMatch(/^AWS_ENDPOINT_URL_KMS=http:\/\/127\.0\.0\.1:\d+$/m);
    expect(envFile).toContain('KMS_KEY_ID=alias/ig-router-local');
    // The printed endpoints hide the database password.
    expect(up.stdout).toMatch(/DATABASE_URL=postgres:\/\/postgres:\*\*\*@127\.0\.0\.1/);

    // Both files hold the database password.
    expect(statSync(join(stackDir, 'env')).mode & 0o777).toBe(0o600);
    expect(statSync(join(stackDir, 'state.json')).mode & 0o777).toBe(0o600);
    const state = JSON.parse(readFileSync(join(stackDir, 'state.json'), 'utf8'));
    const pids: number[] = [state.kafka.pid, state.postgres.pid, state.kms.pid];
    expect(pids.every((pid) => isAlive(pid))).toBe(true);

    const again = runStack('up', childEnv(stackDir));
    expect(again.status).toBe(0);
    expect(again.stdout).toContain(`kafka: reusing broker on 127.0.0.1:${state.kafka.port}`);
    expect(again.stdout).toContain(`postgres: reusing server on 127.0.0.1:${state.postgres.port}`);
    expect(again.stdout).toContain('topics: 0 created, 0 updated, 7 unchanged');

    const down = runStack('down', childEnv(stackDir));
    expect(down.status).toBe(0);
    expect(pids.filter((pid) => isAlive(pid))).toEqual([]);

    const status = runStack('status', childEnv(stackDir));
    expect(status.status).toBe(1);
    expect(status.stdout).toContain('kafka     stopped');
  });

  it('names the missing prerequisite when Java is not installed', () => {
    const emptyCache = mkdtempSync(join(tmpdir(), 'igr-cache-test-'));
    // A PATH holding only node: java, mvn and go are all missing.
    const binDir = join(emptyCache, 'bin');
    mkdirSync(binDir);
    symlinkSync(process.execPath, join(binDir, 'node'));
    try {
      const result = runStack(
        'up',
        childEnv(join(stackDir, 'no-java'), { PATH: binDir, IGR_CACHE_DIR: emptyCache }),
      );
      expect(result.status).toBe(1);
      expect(result.stderr).toContain('Java 17 or newer is required');
      expect(result.stderr).toContain('KAFKA_BROKERS');
    } finally {
      rmSync(emptyCache, { recursive: true, force: true });
    }
  });
});
