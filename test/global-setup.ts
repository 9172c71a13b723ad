import { execFileSync } from 'node:child_process';
import type { TestProject } from 'vitest/node';

/**
 * Provides Kafka, PostgreSQL and a KMS-compatible server to the tests, in this order of choice:
 * 1. variables that already point at servers (KAFKA_BROKERS, DATABASE_URL, KMS_KEY_ID);
 * 2. testcontainers, when a Docker engine answers;
 * 3. the local stack of infra/local (started, or reused when it is already running).
 * Test workers are forked after this runs, so they inherit the variables set here.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const env = process.env;
  if (env.KAFKA_BROKERS && env.DATABASE_URL && env.KMS_KEY_ID) {
    process.stdout.write(
      '[test stack] using servers from KAFKA_BROKERS, DATABASE_URL, KMS_KEY_ID\n',
    );
    project.provide('stackSource', 'environment');
    return async () => {};
  }

  if (env.IGR_TEST_STACK !== 'local' && dockerEngineAnswers()) {
    const { startContainerStack } = await import('./container-stack.js');
    const stack = await startContainerStack();
    Object.assign(process.env, stack.env);
    process.stdout.write('[test stack] using testcontainers\n');
    project.provide('stackSource', 'testcontainers');
    return stack.stop;
  }

  const { stackUp } = await import('../infra/local/src/stack.js');
  const started = Date.now();
  const endpoints = await stackUp({
    log: (line) => process.stdout.write(`[test stack] ${line}\n`),
  });
  for (const [key, value] of Object.entries(endpoints)) {
    if (value !== undefined && process.env[key] === undefined) process.env[key] = value;
  }
  process.stdout.write(`[test stack] local stack ready in ${Date.now() - started} ms\n`);
  project.provide('stackSource', 'local');
  // The local stack keeps running so the next run reuses it; `npm run stack:down` stops it.
  return async () => {};
}

function dockerEngineAnswers(): boolean {
  try {
    execFileSync('docker', ['info', '--format', '{{.ServerVersion}}'], {
      stdio: 'pipe',
      timeout: 5_000,
    });
    return true;
  } catch {
    return false;
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    stackSource: 'environment' | 'testcontainers' | 'local';
  }
}
