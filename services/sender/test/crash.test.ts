import { type ChildProcess, spawn } from 'node:child_process';
import type { SendResult } from '@ig-router/core';
import {
  createTestDatabase,
  createTestTopics,
  eventually,
  type GraphSimulator,
  readTopic,
  startGraphSimulator,
  type TestDatabase,
  type TestTopics,
} from '@ig-router/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  closeProducers,
  produceCommands,
  seedAccount,
  senderTestEnv,
  textCommand,
  tokenCrypto,
} from './helpers.js';

const ACCOUNTS = 30;
const COMMANDS_PER_ACCOUNT = 10;
const TOTAL = ACCOUNTS * COMMANDS_PER_ACCOUNT;

interface SenderProcess {
  child: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
}

/** Runs the sender as `node --conditions=source --import tsx services/sender/src/main.ts`. */
function spawnSender(env: Record<string, string>): SenderProcess {
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', 'services/sender/src/main.ts'],
    {
      cwd: new URL('../../../', import.meta.url).pathname,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const output: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolveExit) => child.once('exit', resolveExit));
  return { child, output, exited };
}

describe('sender crash recovery', () => {
  let topics: TestTopics;
  let database: TestDatabase;
  let simulator: GraphSimulator;
  let env: Record<string, string>;
  const tokens: string[] = [];
  const processes: SenderProcess[] = [];

  beforeAll(async () => {
    [topics, database, simulator] = await Promise.all([
      createTestTopics('sender-crash', 3),
      createTestDatabase('sender_crash'),
      // Slow answers keep many sends in flight when the sender is killed.
      startGraphSimulator({ latencyMs: 150 }),
    ]);
    const crypto = tokenCrypto();
    for (let i = 0; i < ACCOUNTS; i += 1) {
      const account = await seedAccount(database.db, crypto, simulator, {
        ig_business_id: `1784140${String(i).padStart(10, '0')}`,
      });
      tokens.push(account.token);
    }
    env = senderTestEnv({
      prefix: topics.prefix,
      databaseUrl: database.url,
      graphUrl: simulator.url,
      extra: { CONSUMER_SESSION_TIMEOUT_MS: '6000', LOG_LEVEL: 'info' },
    });
  });

  afterAll(async () => {
    await closeProducers();
    for (const sender of processes) {
      if (sender.child.exitCode === null) sender.child.kill('SIGKILL');
      await sender.exited;
    }
    await simulator?.close();
    await database?.drop();
    await topics?.cleanup();
  });

  it('sends no command twice when killed during sends and restarted', async () => {
    // Each account's commands go to one recipient, so they are sent one after another and the
    // run lasts long enough to be interrupted.
    const commands = Array.from({ length: COMMANDS_PER_ACCOUNT }, (_, n) =>
      Array.from({ length: ACCOUNTS }, (_, i) =>
        textCommand(`1784140${String(i).padStart(10, '0')}`, `77700${i}`, {
          message: { text: `crash ${n}` },
        }),
      ),
    ).flat();
    await produceCommands(topics.kafka, topics.names.outbound, commands);

    const first = spawnSender(env);
    processes.push(first);
    await eventually(
      'a third of the commands sent',
      () => simulator.requests().length >= TOTAL / 3,
      60_000,
    );
    first.child.kill('SIGKILL');
    await first.exited;
    const sentBeforeKill = simulator.requests().length;
    expect(sentBeforeKill).toBeLessThan(TOTAL);

    const second = spawnSender(env);
    processes.push(second);
    const wanted = new Set(commands.map((command) => command.command_id));
    const records = await readTopic(topics.kafka, topics.names.outboundResults, {
      timeoutMs: 90_000,
      until: (read) => {
        const seen = new Set<string>();
        for (const record of read) {
          const id = (JSON.parse(record.value?.toString('utf8') ?? '{}') as SendResult).command_id;
          if (id && wanted.has(id)) seen.add(id);
        }
        return seen.size === wanted.size;
      },
    });
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);

    const results = records.map(
      (record) => JSON.parse(record.value?.toString('utf8') ?? '{}') as SendResult,
    );
    const resultsPerCommand = new Map<string, SendResult[]>();
    for (const result of results) {
      if (!result.command_id) continue;
      resultsPerCommand.set(result.command_id, [
        ...(resultsPerCommand.get(result.command_id) ?? []),
        result,
      ]);
    }
    expect(resultsPerCommand.size).toBe(TOTAL);
    const duplicates = [...resultsPerCommand].filter(([, list]) => list.length > 1);
    expect(duplicates).toEqual([]);

    const requestsPerCommand = new Map<string, number>();
    for (const request of simulator.requests()) {
      const id = request.command_id ?? '';
      requestsPerCommand.set(id, (requestsPerCommand.get(id) ?? 0) + 1);
    }
    const sentTwice = [...requestsPerCommand].filter(([, count]) => count > 1);
    expect(sentTwice).toEqual([]);

    // Every command that reached the simulator is reported sent or ambiguous, never failed.
    const statuses = new Map<string, number>();
    for (const [, [result]] of resultsPerCommand as Map<string, [SendResult]>) {
      statuses.set(result.status, (statuses.get(result.status) ?? 0) + 1);
      if (result.status === 'sent') expect(requestsPerCommand.get(result.command_id ?? '')).toBe(1);
    }
    expect((statuses.get('sent') ?? 0) + (statuses.get('ambiguous') ?? 0)).toBe(TOTAL);
    expect(statuses.get('sent') ?? 0).toBeGreaterThan(TOTAL / 2);

    const output = [...first.output, ...second.output].join('');
    for (const token of tokens) expect(output).not.toContain(token);
  });
});
