import { stackDown, stackStatus, stackUp } from './stack.js';

const usage = `usage: npm run stack:up | stack:down [-- --purge] | stack:status

  up      start (or reuse) Kafka, PostgreSQL and local-kms on free 127.0.0.1 ports, apply
          migrations and topics, and write the endpoints to .stack/env
  down    stop what "up" started; --purge also deletes .stack (all local data)
  status  show which local servers are running

Variables that point elsewhere replace a local server: KAFKA_BROKERS, DATABASE_URL,
KMS_KEY_ID (with AWS_ENDPOINT_URL_KMS for a KMS-compatible endpoint, or alone for AWS KMS).`;

async function main(): Promise<number> {
  const [command, ...args] = process.argv.slice(2);
  switch (command) {
    case 'up': {
      const started = Date.now();
      const endpoints = await stackUp();
      process.stdout.write(
        `\nlocal stack ready in ${((Date.now() - started) / 1000).toFixed(1)} s; endpoints written to .stack/env:\n`,
      );
      for (const [key, value] of Object.entries(endpoints)) {
        if (key === 'AWS_SECRET_ACCESS_KEY' || key === 'AWS_ACCESS_KEY_ID') continue;
        const shown = key === 'DATABASE_URL' ? value.replace(/:[^:@/]+@/, ':***@') : value;
        process.stdout.write(`  ${key}=${shown}\n`);
      }
      return 0;
    }
    case 'down':
      await stackDown({ purge: args.includes('--purge') });
      return 0;
    case 'status': {
      const lines = await stackStatus();
      if (lines.length === 0) process.stdout.write('no local stack has been started here\n');
      for (const line of lines) {
        process.stdout.write(
          `${line.name.padEnd(9)} ${line.running ? 'running' : 'stopped'}  ${line.detail}\n`,
        );
      }
      return lines.every((line) => line.running) && lines.length > 0 ? 0 : 1;
    }
    default:
      process.stderr.write(`${usage}\n`);
      return command === '--help' || command === '-h' ? 0 : 64;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`stack: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
