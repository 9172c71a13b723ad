import { type ChildProcess, spawn } from 'node:child_process';
import {
  createIdempotentProducer,
  createKmsClient,
  encryptedTokenColumns,
  type SendCommand,
  TokenCrypto,
} from '@ig-router/core';
import {
  createTestDatabase,
  createTestTopics,
  serviceEnv,
  type TestDatabase,
  type TestTopics,
  testEnv,
  uniqueId,
} from '@ig-router/testkit';
import type { Consumer, Kafka, Producer } from 'kafkajs';
import { freePort } from '../infra/local/src/processes.js';
import { fetchOk, postJson } from './http.js';

/**
 * Sender throughput and latency with 1,000 accounts and a Graph API simulator that answers
 * after 100 ms. Three phases follow a warm-up that decrypts every account's token:
 * 1. capacity: CAPACITY_COMMANDS commands are produced at once, and sends per second are
 *    measured from the first to the last result;
 * 2. healthy: an open-loop load of OFFERED_RATE commands per second for PHASE_SECONDS, with
 *    the p50 and p99 time from a command's `created_at` (set when the bench produces it) to
 *    the timestamp of its result record (set by the sender when it writes the result);
 * 3. the same load with 10 % of the accounts answering every send with code 190, comparing the
 *    healthy accounts' p99 with phase 2.
 *
 * The sender and the simulator each run in their own process, like in production, so the
 * bench's own producer and consumer do not share their event loops.
 */

const ACCOUNTS = 1_000;
const FAILING_ACCOUNTS = 100;
const LATENCY_MS = 100;
const PARTITIONS = 12;
const OFFERED_RATE = 3_000;
const CAPACITY_COMMANDS = 30_000;
const PHASE_SECONDS = 15;
const RECIPIENTS_PER_ACCOUNT = 50;
const TICK_MS = 20;
const RESULT_WAIT_MS = 60_000;
const TARGET_SENDS_PER_S = 3_000;
const TARGET_P99_CHANGE = 0.1;

interface ChildHandle {
  child: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
}

interface Observed {
  createdAt: number;
  failing: boolean;
  resultAt?: number;
  status?: string;
}

interface PhaseFigures {
  commands: number;
  results: number;
  sends_per_s: number;
  p50_ms: number;
  p99_ms: number;
  healthy_p50_ms: number;
  healthy_p99_ms: number;
  statuses: Record<string, number>;
  parked: number;
}

export async function run(log: (line: string) => void): Promise<Record<string, unknown>> {
  let topics: TestTopics | undefined;
  let database: TestDatabase | undefined;
  let simulator: ChildHandle | undefined;
  let sender: ChildHandle | undefined;
  let producer: Producer | undefined;
  let results: Consumer | undefined;
  try {
    [topics, database] = await Promise.all([
      createTestTopics('bench-sender', PARTITIONS),
      createTestDatabase('bench_sender'),
    ]);
    const port = await freePort();
    simulator = spawnChild(['libs/testkit/src/graph-sim/main.ts'], {
      GRAPH_SIM_PORT: String(port),
      GRAPH_SIM_LATENCY_MS: String(LATENCY_MS),
      LOG_LEVEL: 'warn',
    });
    const simUrl = `http://127.0.0.1:${port}`;
    await waitFor('the simulator', () => fetchOk(`${simUrl}/_sim/accounts`), 30_000);

    const seedStarted = Date.now();
    const accounts = await seedAccounts(database, simUrl);
    log(
      `seeded ${ACCOUNTS} accounts with KMS-encrypted tokens in ${seconds(Date.now() - seedStarted)} s`,
    );

    const observed = new Map<string, Observed>();
    results = await followResults(topics.kafka, topics.names.outboundResults, observed);
    producer = createIdempotentProducer(topics.kafka);
    await producer.connect();

    sender = spawnChild(
      [
        ...(process.env.SENDER_NODE_ARGS ?? '').split(' ').filter(Boolean),
        'services/sender/src/main.ts',
      ],
      {
        ...serviceEnv({
          prefix: topics.prefix,
          databaseUrl: database.url,
          extra: {
            GRAPH_API_URL: simUrl,
            SENDER_GROUP_ID: uniqueId('bench-sender'),
            METRICS_PORT: '0',
            LOG_LEVEL: 'info',
          },
        }),
      },
    );
    const started = await waitFor(
      'the sender to load its partitions',
      () => sender?.output.join('').includes('sender started') ?? false,
      60_000,
    );
    log(`sender started in ${seconds(started)} s`);

    // One command per account first, so every token is decrypted before the measured phases.
    const warmup = accounts.map((id, i) => command(id, i));
    const warmupStarted = Date.now();
    await produce(producer, topics.names.outbound, warmup, observed, new Set());
    await waitForResults(observed, warmup.length, RESULT_WAIT_MS);
    log(
      `warm-up: ${warmup.length} commands (one per account) in ${seconds(Date.now() - warmupStarted)} s`,
    );

    const capacity = await runCapacity(accounts, producer, topics, observed, log);
    const healthy = await runPhase(
      'healthy',
      accounts,
      new Set(),
      producer,
      topics,
      database,
      observed,
      log,
    );

    const failing = new Set(accounts.slice(0, FAILING_ACCOUNTS));
    for (const id of failing) {
      await postJson(`${simUrl}/_sim/faults`, { ig_business_id: id, code: 190, count: 1_000_000 });
    }
    const withFailures = await runPhase(
      `${FAILING_ACCOUNTS} accounts failing with 190`,
      accounts,
      failing,
      producer,
      topics,
      database,
      observed,
      log,
    );

    const p99Change = (withFailures.healthy_p99_ms - healthy.p99_ms) / healthy.p99_ms;
    log(
      `healthy accounts' p99: ${healthy.p99_ms} ms without failures, ${withFailures.healthy_p99_ms} ms with ${FAILING_ACCOUNTS} accounts failing (${percent(p99Change)})`,
    );
    log(
      `targets: >= ${TARGET_SENDS_PER_S} sends/s (${capacity.sends_per_s >= TARGET_SENDS_PER_S ? 'met' : 'missed'}), p99 change within ${percent(TARGET_P99_CHANGE)} (${Math.abs(p99Change) <= TARGET_P99_CHANGE ? 'met' : 'missed'})`,
    );
    return {
      accounts: ACCOUNTS,
      failing_accounts: FAILING_ACCOUNTS,
      graph_latency_ms: LATENCY_MS,
      partitions: PARTITIONS,
      offered_rate_per_s: OFFERED_RATE,
      phase_seconds: PHASE_SECONDS,
      capacity,
      healthy,
      with_failures: withFailures,
      healthy_p99_change: round2(p99Change),
      target_sends_per_s: TARGET_SENDS_PER_S,
      target_p99_change: TARGET_P99_CHANGE,
    };
  } finally {
    await producer?.disconnect().catch(() => {});
    await results?.disconnect().catch(() => {});
    await stopChild(sender, 'SIGTERM');
    await stopChild(simulator, 'SIGTERM');
    await database?.drop().catch(() => {});
    await topics?.cleanup().catch(() => {});
  }
}

/** Produces a backlog at once and measures how fast the sender works it off. */
async function runCapacity(
  accounts: string[],
  producer: Producer,
  topics: TestTopics,
  observed: Map<string, Observed>,
  log: (line: string) => void,
): Promise<{ commands: number; sends_per_s: number; seconds: number }> {
  const commands = Array.from({ length: CAPACITY_COMMANDS }, (_, i) =>
    command(accounts[i % accounts.length] as string, 10_000_000 + i),
  );
  const ids = commands.map((c) => c.command_id);
  for (let start = 0; start < commands.length; start += 1_000) {
    await produce(
      producer,
      topics.names.outbound,
      commands.slice(start, start + 1_000),
      observed,
      new Set(),
    );
  }
  await waitFor(
    'capacity: every result',
    () => ids.every((id) => observed.get(id)?.resultAt),
    RESULT_WAIT_MS,
  );
  const times = ids.map((id) => observed.get(id)?.resultAt ?? 0);
  const seconds = (Math.max(...times) - Math.min(...times)) / 1000;
  const sendsPerS = Math.round(CAPACITY_COMMANDS / seconds);
  log(
    `capacity: ${CAPACITY_COMMANDS} commands produced at once, results over ${seconds.toFixed(1)} s: ${sendsPerS} sends/s`,
  );
  return { commands: CAPACITY_COMMANDS, sends_per_s: sendsPerS, seconds: round2(seconds) };
}

async function runPhase(
  name: string,
  accounts: string[],
  failing: Set<string>,
  producer: Producer,
  topics: TestTopics,
  database: TestDatabase,
  observed: Map<string, Observed>,
  log: (line: string) => void,
): Promise<PhaseFigures> {
  const ids: string[] = [];
  const started = Date.now();
  let produced = 0;
  let sequence = 0;
  const total = OFFERED_RATE * PHASE_SECONDS;
  while (produced < total) {
    const due = Math.min(total, Math.floor(((Date.now() - started) / 1000) * OFFERED_RATE));
    const batch: SendCommand[] = [];
    for (; produced < due; produced += 1) {
      sequence += 1;
      const account = accounts[sequence % accounts.length] as string;
      batch.push(command(account, sequence));
    }
    if (batch.length > 0) {
      await produce(producer, topics.names.outbound, batch, observed, failing);
      ids.push(...batch.map((c) => c.command_id));
    }
    await new Promise((resolve) => setTimeout(resolve, TICK_MS));
  }
  const offeredFor = (Date.now() - started) / 1000;

  const expected = ids.filter((id) => !observed.get(id)?.failing).length;
  await waitFor(
    `${name}: results of the healthy accounts`,
    () =>
      ids.filter((id) => !observed.get(id)?.failing && observed.get(id)?.resultAt).length ===
      expected,
    RESULT_WAIT_MS,
  );
  // Commands of failing accounts are parked, not finished; their rows show they were taken.
  const parked = await database.db
    .selectFrom('sends')
    .select(database.db.fn.countAll<string>().as('count'))
    .where('state', '=', 'parked')
    .executeTakeFirstOrThrow();

  const figures = phaseFigures(ids, observed, Number(parked.count));
  log(
    `${name}: offered ${ids.length} commands in ${offeredFor.toFixed(1)} s; ${figures.results} results, ${figures.sends_per_s} sends/s, p50 ${figures.p50_ms} ms, p99 ${figures.p99_ms} ms; healthy accounts p50 ${figures.healthy_p50_ms} ms, p99 ${figures.healthy_p99_ms} ms; statuses ${JSON.stringify(figures.statuses)}; parked rows ${figures.parked}`,
  );
  return figures;
}

function phaseFigures(
  ids: string[],
  observed: Map<string, Observed>,
  parked: number,
): PhaseFigures {
  const all: number[] = [];
  const healthy: number[] = [];
  const statuses: Record<string, number> = {};
  let first = Number.POSITIVE_INFINITY;
  let last = 0;
  let sent = 0;
  for (const id of ids) {
    const entry = observed.get(id);
    if (!entry?.resultAt || !entry.status) continue;
    const latency = entry.resultAt - entry.createdAt;
    all.push(latency);
    if (!entry.failing) healthy.push(latency);
    statuses[entry.status] = (statuses[entry.status] ?? 0) + 1;
    first = Math.min(first, entry.createdAt);
    last = Math.max(last, entry.resultAt);
    if (entry.status === 'sent') sent += 1;
  }
  return {
    commands: ids.length,
    results: all.length,
    sends_per_s: Math.round(sent / ((last - first) / 1000)),
    p50_ms: quantile(all, 0.5),
    p99_ms: quantile(all, 0.99),
    healthy_p50_ms: quantile(healthy, 0.5),
    healthy_p99_ms: quantile(healthy, 0.99),
    statuses,
    parked,
  };
}

function command(igBusinessId: string, sequence: number): SendCommand {
  return {
    command_id: `bench-${sequence}-${uniqueId('c')}`,
    ig_business_id: igBusinessId,
    recipient: { id: `9${String(sequence % RECIPIENTS_PER_ACCOUNT).padStart(8, '0')}` },
    message: { text: `bench message ${sequence}` },
    created_at: new Date().toISOString(),
  };
}

async function produce(
  producer: Producer,
  topic: string,
  commands: SendCommand[],
  observed: Map<string, Observed>,
  failing: Set<string>,
): Promise<void> {
  for (const c of commands) {
    observed.set(c.command_id, {
      createdAt: Date.parse(c.created_at),
      failing: failing.has(c.ig_business_id),
    });
  }
  await producer.send({
    topic,
    acks: -1,
    messages: commands.map((c) => ({ key: c.ig_business_id, value: JSON.stringify(c) })),
  });
}

async function followResults(
  kafka: Kafka,
  topic: string,
  observed: Map<string, Observed>,
): Promise<Consumer> {
  const consumer = kafka.consumer({ groupId: uniqueId('bench-results'), maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      for (const message of batch.messages) {
        const result = JSON.parse(message.value?.toString('utf8') ?? '{}') as {
          command_id?: string;
          status?: string;
        };
        const entry = result.command_id ? observed.get(result.command_id) : undefined;
        if (!entry || entry.resultAt) continue;
        entry.resultAt = Number(message.timestamp);
        entry.status = result.status;
      }
    },
  });
  return consumer;
}

async function waitForResults(
  observed: Map<string, Observed>,
  count: number,
  timeoutMs: number,
): Promise<void> {
  await waitFor(
    `${count} results`,
    () => [...observed.values()].filter((entry) => entry.resultAt).length >= count,
    timeoutMs,
  );
}

async function seedAccounts(database: TestDatabase, simUrl: string): Promise<string[]> {
  const env = testEnv();
  const crypto = new TokenCrypto(createKmsClient(env), env.KMS_KEY_ID);
  const client = await database.db
    .insertInto('clients')
    .values({ name: 'bench', api_key_hash: uniqueId('hash'), api_key_prefix: 'igr_bench' })
    .returning('client_id')
    .executeTakeFirstOrThrow();
  const ids = Array.from({ length: ACCOUNTS }, (_, i) => `17841${String(i).padStart(10, '0')}`);

  const rows = [];
  for (let start = 0; start < ids.length; start += 50) {
    const slice = ids.slice(start, start + 50);
    rows.push(
      ...(await Promise.all(
        slice.map(async (id) => {
          const token = `EAAGbench${uniqueId('t').replace(/-/g, '')}`;
          const sealed = await crypto.encrypt(
            { ig_business_id: id, client_id: client.client_id },
            token,
          );
          await postJson(`${simUrl}/_sim/accounts`, {
            ig_business_id: id,
            page_id: `2${id.slice(1)}`,
            username: `bench_${id.slice(-4)}`,
            token,
          });
          return {
            ig_business_id: id,
            client_id: client.client_id,
            username: `bench_${id.slice(-4)}`,
            page_id: `2${id.slice(1)}`,
            ...encryptedTokenColumns(sealed),
          };
        }),
      )),
    );
  }
  for (let start = 0; start < rows.length; start += 200) {
    await database.db
      .insertInto('ig_accounts')
      .values(rows.slice(start, start + 200))
      .execute();
  }
  return ids;
}

function spawnChild(args: string[], env: Record<string, string>): ChildHandle {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', ...args], {
    cwd: new URL('../', import.meta.url).pathname,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { child, output, exited };
}

async function stopChild(handle: ChildHandle | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!handle || handle.child.exitCode !== null) return;
  handle.child.kill(signal);
  const timer = setTimeout(() => handle.child.kill('SIGKILL'), 15_000);
  await handle.exited;
  clearTimeout(timer);
}

/** Polls `check` every 50 ms; returns the elapsed ms, or throws after `timeoutMs`. */
async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return Date.now() - started;
}

function quantile(values: number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}

function percent(ratio: number): string {
  return `${ratio >= 0 ? '+' : ''}${(ratio * 100).toFixed(1)} %`;
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
