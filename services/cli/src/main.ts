import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError, environmentWithStack, IgRouterError } from '@ig-router/core';
import { formatCommandHelp, parseCommand } from './args.js';
import type { Command, CommandGroup } from './command.js';
import { accountsGroup } from './commands/accounts.js';
import { auditGroup } from './commands/audit.js';
import { circuitGroup } from './commands/circuit.js';
import { clientsGroup } from './commands/clients.js';
import { replayGroup } from './commands/replay.js';
import { rerouteGroup } from './commands/reroute.js';
import { sendGroup } from './commands/send.js';
import { tailGroup } from './commands/tail.js';
import { topicsGroup } from './commands/topics.js';
import { CommandContext } from './context.js';
import { CliError, type ExitCode, ExitCodes } from './errors.js';
import { type CliIo, write } from './io.js';
import { withLocalPipeline } from './local-pipeline.js';

/** Every command group, in the order `igr --help` lists them. */
export const commandGroups: CommandGroup[] = [
  clientsGroup,
  accountsGroup,
  topicsGroup,
  sendGroup,
  replayGroup,
  rerouteGroup,
  auditGroup,
  circuitGroup,
  tailGroup,
];

/** Lists every command, for tests and documentation. */
export function allCommands(): Command[] {
  return commandGroups.flatMap((group) => group.commands);
}

function formatMainHelp(): string {
  const lines = [
    'Usage: igr <command> [options]',
    '',
    'Operator CLI of ig-router.',
    '',
    'Commands:',
  ];
  const commands = allCommands();
  const width = Math.max(...commands.map((command) => command.spec.name.length));
  for (const command of commands) {
    lines.push(`  ${command.spec.name.padEnd(width)}  ${command.spec.summary}`);
  }
  lines.push(
    '',
    'Run igr <command> --help for the options of a command.',
    '',
    'Settings come from environment variables, and from .stack/env (written by npm run stack:up)',
    'for those not set: DATABASE_URL; KAFKA_BROKERS, KAFKA_SSL, KAFKA_SASL_*, TOPIC_PREFIX;',
    'KMS_KEY_ID, AWS_REGION, AWS_ENDPOINT_URL_KMS; GRAPH_API_URL, GRAPH_API_VERSION;',
    'META_APP_ID, META_APP_SECRET, META_APPS_FILE; LOG_LEVEL (default warn, logs go to stderr).',
    'Each command reads only the variables it uses.',
    '',
    'Exit codes: 0 success; 1 the command failed; 2 accounts check found tokens that need',
    'attention; 64 invalid command line; 78 missing or invalid environment variable.',
  );
  return `${lines.join('\n')}\n`;
}

function formatGroupHelp(group: CommandGroup): string {
  const lines = [
    `Usage: igr ${group.name} <command> [options]`,
    '',
    group.summary,
    '',
    'Commands:',
  ];
  const width = Math.max(...group.commands.map((command) => command.spec.name.length));
  for (const command of group.commands) {
    lines.push(`  ${command.spec.name.padEnd(width)}  ${command.spec.summary}`);
  }
  lines.push('', `Run igr ${group.name} <command> --help for the options of a command.`);
  return `${lines.join('\n')}\n`;
}

type Resolution =
  | { kind: 'command'; command: Command; args: string[] }
  | { kind: 'help'; text: string; exitCode: ExitCode; toStderr: boolean }
  | { kind: 'unknown'; message: string };

function resolveCommand(argv: string[]): Resolution {
  const [first, second] = argv;
  if (first === undefined)
    return { kind: 'help', text: formatMainHelp(), exitCode: ExitCodes.USAGE, toStderr: true };
  if (first === '--help' || first === '-h' || first === 'help') {
    return { kind: 'help', text: formatMainHelp(), exitCode: ExitCodes.OK, toStderr: false };
  }

  const group = commandGroups.find((candidate) => candidate.name === first);
  if (!group) {
    return {
      kind: 'unknown',
      message: `unknown command ${JSON.stringify(first)}; run igr --help for the commands.`,
    };
  }

  const single = group.commands.length === 1 && group.commands[0]?.spec.name === group.name;
  if (single && group.commands[0])
    return { kind: 'command', command: group.commands[0], args: argv.slice(1) };

  if (second === undefined) {
    return {
      kind: 'help',
      text: formatGroupHelp(group),
      exitCode: ExitCodes.USAGE,
      toStderr: true,
    };
  }
  if (second === '--help' || second === '-h') {
    return { kind: 'help', text: formatGroupHelp(group), exitCode: ExitCodes.OK, toStderr: false };
  }
  const command = group.commands.find(
    (candidate) => candidate.spec.name === `${group.name} ${second}`,
  );
  if (!command) {
    return {
      kind: 'unknown',
      message: `unknown command ${JSON.stringify(`${group.name} ${second}`)}; run igr ${group.name} --help for its commands.`,
    };
  }
  return { kind: 'command', command, args: argv.slice(2) };
}

/** Describes an unexpected error in one line that names the command and the next step. */
function describeError(command: Command, err: unknown): string {
  if (err instanceof CliError || err instanceof ConfigError) return err.message;
  const message = err instanceof Error ? err.message : String(err);
  const name = err instanceof Error ? err.name : '';
  if (name.startsWith('KafkaJS')) {
    return `igr ${command.spec.name} failed: Kafka: ${message}; check KAFKA_BROKERS and that the brokers are reachable`;
  }
  if (err instanceof IgRouterError) return `igr ${command.spec.name} failed: ${message}`;
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ECONNREFUSED' || (typeof code === 'string' && /^(08|28|3D)/.test(code))) {
    return `igr ${command.spec.name} failed: database: ${message}; check DATABASE_URL and that PostgreSQL is running`;
  }
  return `igr ${command.spec.name} failed: ${message}`;
}

function exitCodeFor(err: unknown): ExitCode {
  if (err instanceof CliError) return err.exitCode;
  if (err instanceof ConfigError) return ExitCodes.CONFIG;
  return ExitCodes.FAILURE;
}

/**
 * Runs one `igr` command line (the arguments after `igr`) and returns its exit code. Never
 * throws: every error is written to stderr as `igr: ...`. Tests call it in-process with their
 * own streams, environment and signal.
 */
export async function runCli(argv: string[], partialIo: Partial<CliIo> = {}): Promise<ExitCode> {
  const io: CliIo = {
    stdin: partialIo.stdin ?? process.stdin,
    stdout: partialIo.stdout ?? process.stdout,
    stderr: partialIo.stderr ?? process.stderr,
    env: partialIo.env ?? process.env,
    signal: partialIo.signal ?? new AbortController().signal,
  };

  const resolution = resolveCommand(argv);
  if (resolution.kind === 'help') {
    await write(resolution.toStderr ? io.stderr : io.stdout, resolution.text);
    return resolution.exitCode;
  }
  if (resolution.kind === 'unknown') {
    await write(io.stderr, `igr: ${resolution.message}\n`);
    return ExitCodes.USAGE;
  }

  const { command, args } = resolution;
  let ctx: CommandContext | undefined;
  try {
    const parsed = parseCommand(command.spec, args);
    if (parsed === 'help') {
      await write(io.stdout, formatCommandHelp(command.spec));
      return ExitCodes.OK;
    }
    const local = withLocalPipeline(environmentWithStack(io.env));
    if (local.notice) await write(io.stderr, `igr: ${local.notice}\n`);
    ctx = new CommandContext(io, local.env);
    return await command.run(ctx, parsed);
  } catch (err) {
    await write(io.stderr, `igr: ${describeError(command, err)}\n`);
    return exitCodeFor(err);
  } finally {
    await ctx?.close();
  }
}

/**
 * Entry point of the `igr` binary: runs with the process streams, turns the first Ctrl-C into
 * a graceful stop (the second one exits with 130) and sets the process exit code.
 */
export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);

  const code = await runCli(argv, { signal: controller.signal });
  process.exitCode = code;
  // Kafka and pool clients are closed by now; this only guards against a stray handle.
  setTimeout(() => process.exit(code), 2_000).unref();
}

function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  void main();
}
