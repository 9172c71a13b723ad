import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stackDir } from './paths.js';

// `npm run stop`: stops the `npm start` of this checkout from another terminal or a script, as
// Ctrl-C would: it sends SIGINT to the pid in .stack/pipeline.json and waits until that process
// has stopped every service (and the local stack, if npm start started it).

const WAIT_MS = 90_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<number> {
  const file = join(stackDir, 'pipeline.json');
  if (!existsSync(file)) {
    console.log('npm start is not running in this checkout (no .stack/pipeline.json)');
    return 0;
  }
  const { pid } = JSON.parse(readFileSync(file, 'utf8')) as { pid?: unknown };
  if (typeof pid !== 'number' || !alive(pid)) {
    console.log('npm start is not running in this checkout (its pid has exited)');
    return 0;
  }
  console.log(`stopping npm start (pid ${pid})`);
  process.kill(pid, 'SIGINT');
  const deadline = Date.now() + WAIT_MS;
  let lastReport = Date.now();
  while (alive(pid)) {
    if (Date.now() > deadline) {
      console.error(`pid ${pid} is still running after ${WAIT_MS / 1000} s; see its terminal`);
      return 1;
    }
    if (Date.now() - lastReport >= 5_000) {
      console.log(`  still stopping (${Math.round((WAIT_MS - (deadline - Date.now())) / 1000)} s)`);
      lastReport = Date.now();
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  console.log('stopped');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`npm run stop failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
