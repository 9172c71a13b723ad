import { databaseEnvSchema, loadConfig } from '../config.js';
import { createDatabase } from './connection.js';
import { migrateDown, migrateUp } from './migrator.js';

const usage = 'usage: npm run migrate -- up | down [--all]';

async function main(): Promise<number> {
  const [direction, flag] = process.argv.slice(2);
  if (direction !== 'up' && direction !== 'down') {
    process.stderr.write(`${usage}\n`);
    return 64;
  }
  const config = loadConfig(databaseEnvSchema);
  const { db, close } = createDatabase(config, 1);
  try {
    const names =
      direction === 'up' ? await migrateUp(db) : await migrateDown(db, flag === '--all');
    const verb = direction === 'up' ? 'applied' : 'reverted';
    process.stdout.write(
      names.length === 0 ? `no migrations ${verb}\n` : `${verb}: ${names.join(', ')}\n`,
    );
    return 0;
  } finally {
    await close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`migrate: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
