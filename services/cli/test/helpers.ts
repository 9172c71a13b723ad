import { spawn } from 'node:child_process';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { testEnv } from '@ig-router/testkit';
import { runCli } from '../src/main.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Collects everything written to a stream. */
export function collector(): { stream: PassThrough; text(): string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

/** Environment for in-process and child runs: the test stack plus the given variables. */
export function cliEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = testEnv();
  return {
    PATH: process.env.PATH,
    KAFKA_BROKERS: env.KAFKA_BROKERS,
    DATABASE_URL: env.DATABASE_URL,
    AWS_REGION: env.AWS_REGION,
    KMS_KEY_ID: env.KMS_KEY_ID,
    ...(env.AWS_ENDPOINT_URL_KMS ? { AWS_ENDPOINT_URL_KMS: env.AWS_ENDPOINT_URL_KMS } : {}),
    ...(process.env.AWS_ACCESS_KEY_ID ? { AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID } : {}),
    ...(process.env.AWS_SECRET_ACCESS_KEY
      ? { AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY }
      : {}),
    LOG_LEVEL: 'info',
    ...extra,
  };
}

export interface InProcessRun {
  /** Resolves with the exit code and the output once the command ends. */
  done: Promise<CliRun>;
  stdout(): string;
  stderr(): string;
  abort(): void;
}

/** Starts `igr` in-process with its own streams; `stdin` is piped in and closed. */
export function startCli(argv: string[], env: NodeJS.ProcessEnv, stdin = ''): InProcessRun {
  const stdout = collector();
  const stderr = collector();
  const controller = new AbortController();
  const done = runCli(argv, {
    stdin: Readable.from([Buffer.from(stdin, 'utf8')]),
    stdout: stdout.stream,
    stderr: stderr.stream,
    env,
    signal: controller.signal,
  }).then((code) => ({ code, stdout: stdout.text(), stderr: stderr.text() }));
  return { done, stdout: stdout.text, stderr: stderr.text, abort: () => controller.abort() };
}

/** Runs `igr` in-process to the end. */
export function runInProcess(argv: string[], env: NodeJS.ProcessEnv, stdin = ''): Promise<CliRun> {
  return startCli(argv, env, stdin).done;
}

const mainSource = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const launcher = fileURLToPath(new URL('../bin/igr.js', import.meta.url));
// `--import tsx` resolves from the working directory, so children run from the repository root.
const repositoryRoot = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * Runs `igr` as a child process from the TypeScript sources (or through bin/igr.js), to check
 * exit codes and output as a shell receives them.
 */
export function runChild(
  argv: string[],
  env: NodeJS.ProcessEnv,
  options: { launcher?: boolean; stdin?: string } = {},
): Promise<CliRun> {
  const args = options.launcher
    ? [launcher, ...argv]
    : ['--conditions=source', '--import', 'tsx', mainSource, ...argv];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: repositoryRoot,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({
        code: code ?? -1,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      }),
    );
    child.stdin.end(options.stdin ?? '');
  });
}
