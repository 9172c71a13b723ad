import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { stackDir } from './paths.js';

// `npm run stop` stops the `npm start` of this checkout from another terminal or a script, as
// Ctrl-C would. It sends SIGINT to the pid in .stack/start.lock.json and waits until that
// process has stopped every service and, if npm start started it, the local stack. When that
// npm start died without stopping its services (SIGKILL), it stops the services left behind.

const WAIT_MS = 90_000;
const SERVICE_GRACE_MS = 10_000;

interface StartLock {
  pid: number;
  children: Array<{ name: string; pid: number }>;
}

/** Returns whether `pid` runs and, where /proc exists, its command line contains `marker`. */
function runs(pid: number, marker: string): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const cmdline = `/proc/${pid}/cmdline`;
  return !existsSync(cmdline) || readFileSync(cmdline, 'utf8').includes(marker);
}

async function waitUntilGone(pid: number, marker: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let lastReport = Date.now();
  while (runs(pid, marker)) {
    if (Date.now() > deadline) return false;
    if (Date.now() - lastReport >= 5_000) {
      console.log(`  still stopping pid ${pid}`);
      lastReport = Date.now();
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return true;
}

/**
 * Stops services an npm start left running: SIGTERM to all at once, then SIGKILL to those still
 * running after the grace time. Their parent is gone, so the order does not matter.
 */
async function stopLeftovers(children: StartLock['children']): Promise<void> {
  const left = children
    .map((child) => ({ ...child, marker: child.name === 'graph-sim' ? 'graph-sim' : 'main.ts' }))
    .filter((child) => runs(child.pid, child.marker));
  for (const { name, pid } of left) {
    console.log(`stopping ${name} (pid ${pid}), left by an npm start that has exited`);
    process.kill(pid, 'SIGTERM');
  }
  const deadline = Date.now() + SERVICE_GRACE_MS;
  for (const { name, pid, marker } of left) {
    // TODO: a service whose stdout pipe closed with its npm start can hang on EPIPE while
    // logging its shutdown, so it may need the SIGKILL below.
    if (!(await waitUntilGone(pid, marker, Math.max(0, deadline - Date.now())))) {
      console.log(`  ${name} did not stop within ${SERVICE_GRACE_MS / 1000} s; killing it`);
      process.kill(pid, 'SIGKILL');
    }
  }
}

async function main(): Promise<number> {
  const lockFile = join(stackDir, 'start.lock.json');
  if (!existsSync(lockFile)) {
    console.log('npm start is not running in this checkout (no .stack/start.lock.json)');
    return 0;
  }
  const lock = JSON.parse(readFileSync(lockFile, 'utf8')) as StartLock;
  if (!runs(lock.pid, 'start.ts')) {
    await stopLeftovers(lock.children ?? []);
    rmSync(lockFile, { force: true });
    rmSync(join(stackDir, 'pipeline.json'), { force: true });
    console.log('npm start is not running in this checkout; nothing of it is left');
    return 0;
  }

  console.log(`stopping npm start (pid ${lock.pid})`);
  process.kill(lock.pid, 'SIGINT');
  if (!(await waitUntilGone(lock.pid, 'start.ts', WAIT_MS))) {
    console.error(`pid ${lock.pid} is still running after ${WAIT_MS / 1000} s; see its terminal`);
    return 1;
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
