import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../../infra/local/src/paths.js';
import { freePort, waitFor } from '../../../infra/local/src/processes.js';

/** Every child the suite started and not yet reaped; afterAll kills what is left. */
const live = new Set<ServiceProcess>();

/** Servers (Kafka, PostgreSQL) started detached, killed if the test process exits first. */
const servers = new Set<number>();

export function trackServer(pid: number): void {
  servers.add(pid);
}

export function untrackServer(pid: number): void {
  servers.delete(pid);
}

/** Temporary folders removed when the test process exits early (kept with IGR_FAULTS_KEEP=1). */
const folders = new Set<string>();

export function trackFolder(path: string): void {
  folders.add(path);
}

export function untrackFolder(path: string): void {
  folders.delete(path);
}

/** Kills the process group of every child and server still known, synchronously. */
function killEverything(): void {
  const groups = [...[...live].map((service) => service.pid), ...servers];
  for (const pid of groups) {
    if (pid === undefined) continue;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {}
  }
  if (process.env.IGR_FAULTS_KEEP === '1') return;
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
}

// A worker that vitest ends (a hook timeout, Ctrl-C) skips afterAll, and detached children
// would outlive it, so their process groups are killed on the way out.
process.on('exit', killEverything);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    killEverything();
    process.exit(1);
  });
}

/**
 * A service run as `node --conditions=source --import tsx <entry>` in a process group of its
 * own, its output appended to a log file. Exits the harness did not ask for are counted, and
 * with `restartOnCrash` the service is started again, as a process manager would.
 */
export class ServiceProcess {
  child?: ChildProcess;
  /** Exits that were not caused by stop() or kill(). */
  unplannedExits = 0;
  private planned = false;
  private exitedPromise: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    readonly name: string,
    private readonly entry: string,
    private readonly env: Record<string, string>,
    private readonly logFile: string,
    private readonly options: {
      restartOnCrash?: boolean;
      readyUrl?: string;
      oneShot?: boolean;
    } = {},
  ) {}

  start(): void {
    const log = openSync(this.logFile, 'a');
    const child = spawn(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', join(repoRoot, this.entry)],
      { cwd: repoRoot, env: this.env, stdio: ['ignore', log, log], detached: true },
    );
    closeSync(log);
    this.child = child;
    this.planned = false;
    live.add(this);
    this.exitedPromise = new Promise((resolveExit) => {
      child.once('exit', (code, signal) => {
        live.delete(this);
        if (!this.planned && !this.closed && !this.options.oneShot) {
          this.unplannedExits += 1;
          process.stdout.write(
            `[faults] ${this.name} exited unexpectedly (${signal ?? `code ${code}`}); log ${this.logFile}\n`,
          );
          if (this.options.restartOnCrash) {
            // Backs off like a process manager, so a service that cannot start does not spin.
            const delayMs = Math.min(5_000, 500 * 2 ** Math.min(4, this.unplannedExits - 1));
            setTimeout(() => {
              if (!this.closed && !this.running) this.start();
            }, delayMs);
          }
        }
        resolveExit();
      });
    });
  }

  get running(): boolean {
    return (
      this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
    );
  }

  /** Exit code of the last run, or null while running or after a signal. */
  get exitCode(): number | null {
    return this.child?.exitCode ?? null;
  }

  /** Waits for the current run to end by itself; throws after `timeoutMs`. */
  async exited(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${this.name} did not exit within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([this.exitedPromise, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Waits until the service's health URL returns 200. */
  async ready(timeoutMs = 90_000): Promise<void> {
    const url = this.options.readyUrl;
    if (!url) return;
    await waitFor(
      `${this.name} ready`,
      async () => {
        const response = await fetch(url, { signal: AbortSignal.timeout(1_000) }).catch(
          () => undefined,
        );
        return response?.status === 200;
      },
      timeoutMs,
    );
  }

  /** Sends a signal to the whole process group and waits for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.running || this.child?.pid === undefined) return;
    this.planned = true;
    try {
      process.kill(-this.child.pid, signal);
    } catch {}
    await this.exitedPromise;
  }

  /** SIGTERM, then SIGKILL to the group after `graceMs`. */
  async stop(graceMs = 20_000): Promise<void> {
    if (!this.running || this.child?.pid === undefined) return;
    this.planned = true;
    const pid = this.child.pid;
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {}
    const timer = setTimeout(() => {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {}
    }, graceMs);
    await this.exitedPromise;
    clearTimeout(timer);
  }

  /** Stops for good: no restart after this. */
  async close(): Promise<void> {
    this.closed = true;
    await this.stop(10_000);
  }
}

/** Kills every child the suite started that is still running (process groups, SIGKILL). */
export async function killAllServices(): Promise<void> {
  const left = [...live];
  for (const service of left) {
    if (service.pid !== undefined) {
      try {
        process.kill(-service.pid, 'SIGKILL');
      } catch {}
    }
  }
  const deadline = Date.now() + 5_000;
  while (left.some((service) => service.running) && Date.now() < deadline) await sleep(50);
}

export async function metricsPort(): Promise<{ port: number; url: string }> {
  const port = await freePort();
  return { port, url: `http://127.0.0.1:${port}/healthz` };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolveSleep) => setTimeout(resolveSleep, ms));
}
