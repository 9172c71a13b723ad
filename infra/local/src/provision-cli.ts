import { environmentWithStack } from '@ig-router/core';
import { provision } from './stack.js';

/**
 * Applies migrations and the topic catalogue to the servers named by KAFKA_BROKERS and
 * DATABASE_URL, for deployments where `stack:up` does not run (containers, managed services).
 */
async function main(): Promise<number> {
  const env = environmentWithStack();
  const missing = ['KAFKA_BROKERS', 'DATABASE_URL'].filter((key) => !env[key]);
  if (missing.length > 0) {
    process.stderr.write(
      `provision: missing ${missing.join(', ')}; set them to the servers to provision\n`,
    );
    return 78;
  }
  await provision(
    {
      KAFKA_BROKERS: env.KAFKA_BROKERS as string,
      DATABASE_URL: env.DATABASE_URL as string,
      AWS_REGION: env.AWS_REGION ?? 'eu-west-2',
      KMS_KEY_ID: env.KMS_KEY_ID ?? '',
    },
    env,
    (line) => process.stdout.write(`${line}\n`),
  );
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`provision: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
