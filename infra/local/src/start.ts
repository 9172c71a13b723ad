import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseDotenv } from '@ig-router/core';
import { repoRoot, stackDir } from './paths.js';
import { freePort, portAnswers, waitFor } from './processes.js';
import { registerStoredAccounts } from './sim-accounts.js';
import { stackDown, stackStatus, stackUp } from './stack.js';

/**
 * `npm start`: brings the whole pipeline up in the foreground. It starts the local stack for
 * every part the environment does not point elsewhere, then the gateway, the router (with the
 * projector) and the sender as child processes, plus the Graph API simulator when
 * GRAPH_API_URL is not set. Ctrl-C stops the services in order (gateway first, so no new
 * webhook is accepted while the others flush), then the local servers it started.
 */

interface ServiceSpec {
  name: string;
  entry: string;
  env: NodeJS.ProcessEnv;
  readyUrl?: string;
}

const colors = ['\x1b[36m', '\x1b[35m', '\x1b[33m', '\x1b[32m', '\x1b[34m'];
const reset = '\x1b[0m';
const useColor = process.stdout.isTTY === true;

function say(line: string): void {
  process.stdout.write(`${useColor ? '\x1b[1m' : ''}[start]${useColor ? reset : ''} ${line}\n`);
}

/** Loads or creates `.stack/meta-app.env`: the local app secret and verify token. */
function localMetaApp(): { secret: string; verifyToken: string; generated: boolean } {
  const file = join(stackDir, 'meta-app.env');
  if (existsSync(file)) {
    const values = parseDotenv(readFileSync(file, 'utf8'));
    if (values.META_APP_SECRET && values.META_VERIFY_TOKEN) {
      return {
        secret: values.META_APP_SECRET,
        verifyToken: values.META_VERIFY_TOKEN,
        generated: false,
      };
    }
  }
  const secret = randomBytes(16).toString('hex');
  const verifyToken = `igr-${randomBytes(9).toString('base64url')}`;
  mkdirSync(stackDir, { recursive: true });
  writeFileSync(
    file,
    `# Local Meta app settings made by npm start; set META_APP_SECRET and META_VERIFY_TOKEN to use a real app.\nMETA_APP_SECRET=${secret}\nMETA_VERIFY_TOKEN=${verifyToken}\n`,
    { mode: 0o600 },
  );
  return { secret, verifyToken, generated: true };
}

/**
 * Description of what `npm start` runs, for `npm run demo`. It contains no secret and is
 * removed on stop.
 */
const pipelineFile = join(stackDir, 'pipeline.json');

/**
 * Lock file of a running `npm start`, written at its first step, with its pid and the pids of
 * the services it started. A second `npm start` is rejected at once, and `npm run stop` can stop
 * the services of an `npm start` that was killed without warning.
 */
const lockFile = join(stackDir, 'start.lock.json');

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
  // A pid left by a killed run may belong to another program by now.
  const cmdline = `/proc/${pid}/cmdline`;
  return !existsSync(cmdline) || readFileSync(cmdline, 'utf8').includes(marker);
}

function readLock(): StartLock | undefined {
  try {
    return JSON.parse(readFileSync(lockFile, 'utf8')) as StartLock;
  } catch {
    return undefined;
  }
}

/** Returns why this run may not start, or undefined once the lock is this process's. */
function acquireLock(): string | undefined {
  mkdirSync(stackDir, { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lockFile, JSON.stringify({ pid: process.pid, children: [] }), { flag: 'wx' });
      return undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const lock = readLock();
    if (lock && runs(lock.pid, 'start.ts')) {
      return `npm start is already running in this checkout (pid ${lock.pid}); stop it with npm run stop or Ctrl-C in its terminal first`;
    }
    const left = (lock?.children ?? []).filter((child) =>
      runs(child.pid, child.name === 'graph-sim' ? 'graph-sim' : 'main.ts'),
    );
    if (left.length > 0) {
      const list = left.map((child) => `${child.name} ${child.pid}`).join(', ');
      return `services of an earlier npm start are still running (${list}); stop them with npm run stop`;
    }
    rmSync(lockFile, { force: true });
  }
  return 'could not take .stack/start.lock.json; another npm start may be starting, try again';
}

function recordChildren(children: Array<{ name: string; child: ChildProcess }>): void {
  const lock: StartLock = {
    pid: process.pid,
    children: children.flatMap(({ name, child }) => (child.pid ? [{ name, pid: child.pid }] : [])),
  };
  writeFileSync(lockFile, JSON.stringify(lock));
}

function releaseLock(): void {
  if (readLock()?.pid === process.pid) rmSync(lockFile, { force: true });
}

/** Removes the pipeline file only when this process wrote it, never a running one's. */
function removeOwnPipelineFile(): void {
  try {
    const { pid } = JSON.parse(readFileSync(pipelineFile, 'utf8')) as { pid?: unknown };
    if (pid === process.pid) rmSync(pipelineFile, { force: true });
  } catch {
    // No file, or not ours to judge: leave it.
  }
}

function writePipelineFile(content: Record<string, unknown>): void {
  writeFileSync(pipelineFile, `${JSON.stringify(content, null, 2)}\n`);
}

function startService(spec: ServiceSpec, color: string): ChildProcess {
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', join(repoRoot, spec.entry)],
    // A process group of its own: Ctrl-C in the terminal reaches only this process, which then
    // stops the services in order instead of all at once.
    { cwd: repoRoot, env: spec.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  const prefix = `${useColor ? color : ''}${spec.name.padEnd(9)}|${useColor ? reset : ''} `;
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on('line', (line) =>
      process.stdout.write(`${prefix}${line}\n`),
    );
  }
  return child;
}

async function stopChild(name: string, child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  say(`stopping ${name}`);
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    say(`${name} did not stop within ${graceMs} ms; killing it`);
    child.kill('SIGKILL');
  }, graceMs);
  await exited;
  clearTimeout(timer);
}

async function main(): Promise<number> {
  const env = process.env;
  // After SIGHUP (a closed terminal) writes fail with EPIPE; the services must still be stopped.
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
  const lockError = acquireLock();
  if (lockError !== undefined) {
    process.stderr.write(`[start] ${lockError}\n`);
    return 1;
  }
  try {
    return await runPipeline(env);
  } finally {
    releaseLock();
  }
}

async function runPipeline(env: NodeJS.ProcessEnv): Promise<number> {
  const productionMode = Boolean(env.KAFKA_BROKERS && env.DATABASE_URL && env.KMS_KEY_ID);
  const before = await stackStatus();
  const stackWasRunning = before.length > 0 && before.every((line) => line.running);

  let serviceEnv: NodeJS.ProcessEnv = { ...env };
  if (productionMode) {
    say('KAFKA_BROKERS, DATABASE_URL and KMS_KEY_ID are set: starting the services only');
  } else {
    const endpoints = await stackUp({ log: (line) => say(line) });
    serviceEnv = { ...endpoints, ...env };
  }

  // Each variable that is set wins on its own; the local file fills in the other.
  const local = env.META_APP_SECRET && env.META_VERIFY_TOKEN ? undefined : localMetaApp();
  const app = {
    secret: env.META_APP_SECRET || (local?.secret as string),
    verifyToken: env.META_VERIFY_TOKEN || (local?.verifyToken as string),
  };
  serviceEnv.META_APP_SECRET = app.secret;
  serviceEnv.META_VERIFY_TOKEN = app.verifyToken;

  const gatewayPort = Number(env.PORT ?? 3000);
  const routerMetricsPort = Number(env.ROUTER_METRICS_PORT ?? 9102);
  const senderMetricsPort = Number(env.SENDER_METRICS_PORT ?? 9103);
  for (const [variable, port] of [
    ['PORT', gatewayPort],
    ['ROUTER_METRICS_PORT', routerMetricsPort],
    ['SENDER_METRICS_PORT', senderMetricsPort],
  ] as const) {
    if (await portAnswers(port)) {
      process.stderr.write(
        `[start] port ${port} is already in use; stop what listens there (npm run stop stops services an earlier npm start left) or set ${variable} to another port\n`,
      );
      return 1;
    }
  }

  const children: Array<{ name: string; child: ChildProcess }> = [];
  let graphUrl = env.GRAPH_API_URL;
  if (!graphUrl) {
    const simPort = Number(env.GRAPH_SIM_PORT ?? (await freePort()));
    graphUrl = `http://127.0.0.1:${simPort}`;
    say('');
    say('GRAPH_API_URL is not set: the sender talks to the Graph API SIMULATOR, not to Meta.');
    say(
      `No message reaches Instagram. Set GRAPH_API_URL=https://graph.facebook.com for real sends.`,
    );
    say('');
    children.push({
      name: 'graph-sim',
      child: startService(
        {
          name: 'graph-sim',
          entry: 'libs/testkit/src/graph-sim/main.ts',
          env: { ...serviceEnv, GRAPH_SIM_PORT: String(simPort) },
        },
        colors[4] as string,
      ),
    });
    recordChildren(children);
    try {
      await waitFor('Graph API simulator start', () => portAnswers(simPort), 30_000);
    } catch (err) {
      for (const { name, child } of children) await stopChild(name, child, 5_000);
      throw err;
    }
    try {
      const { registered, skipped } = await registerStoredAccounts(serviceEnv, graphUrl);
      if (registered + skipped > 0) {
        say(
          `registered ${registered} stored account(s) in the simulator${skipped > 0 ? `; ${skipped} could not be (token not decryptable or rejected)` : ''}`,
        );
      }
    } catch (err) {
      say(`stored accounts were not registered in the simulator: ${(err as Error).message}`);
    }
  }
  serviceEnv.GRAPH_API_URL = graphUrl;
  serviceEnv.PORT = String(gatewayPort);
  serviceEnv.HOST = env.HOST ?? '127.0.0.1';
  serviceEnv.METRICS_HOST = env.METRICS_HOST ?? '127.0.0.1';

  const services: ServiceSpec[] = [
    {
      name: 'router',
      entry: 'services/router/src/main.ts',
      env: { ...serviceEnv, METRICS_PORT: String(routerMetricsPort) },
    },
    {
      name: 'sender',
      entry: 'services/sender/src/main.ts',
      env: { ...serviceEnv, METRICS_PORT: String(senderMetricsPort) },
    },
    { name: 'gateway', entry: 'services/gateway/src/main.ts', env: serviceEnv },
  ];
  services.forEach((spec, index) => {
    children.push({ name: spec.name, child: startService(spec, colors[index] as string) });
  });
  recordChildren(children);

  // One stop for every caller: a failed start-up waits for a stop a crashed service began.
  let stopping: Promise<void> | undefined;
  const stopAll = (reason: string): Promise<void> => {
    stopping ??= stopInOrder(reason);
    return stopping;
  };
  const stopInOrder = async (reason: string): Promise<void> => {
    removeOwnPipelineFile();
    say(`${reason}; stopping in order`);
    const order = ['gateway', 'router', 'sender', 'graph-sim'];
    for (const name of order) {
      const entry = children.find((c) => c.name === name);
      if (entry) await stopChild(name, entry.child, 20_000);
    }
    if (!productionMode && !stackWasRunning && env.IGR_KEEP_STACK !== '1') {
      await stackDown({ log: (line) => say(line) });
    } else if (!productionMode) {
      const keptBecause = stackWasRunning ? 'it was running before npm start' : 'IGR_KEEP_STACK=1';
      say(`the local stack keeps running (${keptBecause}); npm run stack:down stops it`);
    }
  };

  const exitCode = new Promise<number>((resolveExit) => {
    for (const { name, child } of children) {
      child.once('exit', (code, signal) => {
        if (stopping) return;
        say(`${name} exited (${signal ?? `code ${code}`}); stopping the others`);
        void stopAll(`${name} stopped`).then(() => resolveExit(1));
      });
    }
    // SIGHUP: the terminal was closed. A second Ctrl-C must not end this process before the
    // services it started have stopped.
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.on(signal, () => {
        if (!stopping) void stopAll(`${signal} received`).then(() => resolveExit(0));
      });
    }
  });

  try {
    await waitFor(
      'gateway start',
      async () => {
        const response = await fetch(`http://127.0.0.1:${gatewayPort}/healthz`).catch(
          () => undefined,
        );
        return response?.ok === true;
      },
      60_000,
      () => (stopping ? 'a service stopped during start-up' : undefined),
    );
    const host = serviceEnv.HOST === '0.0.0.0' ? '127.0.0.1' : serviceEnv.HOST;
    writePipelineFile({
      pid: process.pid,
      gateway_url: `http://${host}:${gatewayPort}`,
      graph_api_url: graphUrl,
      graph_simulator: !env.GRAPH_API_URL,
      app_secret_source: env.META_APP_SECRET ? 'environment' : 'local',
      started_at: new Date().toISOString(),
    });
    say('');
    say('ig-router is running.');
    say(
      `  webhook URL      http://${host}:${gatewayPort}/webhook  (expose it over HTTPS for Meta, e.g. behind a reverse proxy)`,
    );
    say(
      env.META_VERIFY_TOKEN
        ? '  verify token     from META_VERIFY_TOKEN'
        : `  verify token     ${app.verifyToken}  (local value in .stack/meta-app.env; paste it into the Meta app dashboard, Webhooks)`,
    );
    say(
      `  app secret       ${env.META_APP_SECRET ? 'from META_APP_SECRET' : "local value in .stack/meta-app.env (set META_APP_SECRET to your app's secret)"}`,
    );
    say(
      `  metrics          http://${host}:${gatewayPort}/metrics, http://${serviceEnv.METRICS_HOST}:${services[0]?.env.METRICS_PORT}/metrics, http://${serviceEnv.METRICS_HOST}:${services[1]?.env.METRICS_PORT}/metrics`,
    );
    say(`  Graph API        ${graphUrl}${env.GRAPH_API_URL ? '' : '  (simulator)'}`);
    say('  demo             npm run demo   (in another terminal)');
    say('Press Ctrl-C to stop.');
  } catch (err) {
    await stopAll(`start-up failed: ${(err as Error).message}`);
    return 1;
  }
  return exitCode;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`[start] ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
