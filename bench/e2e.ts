import { type ChildProcess, spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { loadavg } from 'node:os';
import { createKmsClient, encryptedTokenColumns, TokenCrypto } from '@ig-router/core';
import {
  createTestDatabase,
  createTestTopics,
  MetaPayloads,
  metaDelivery,
  type SendRequestRecord,
  serviceEnv,
  type TestDatabase,
  type TestTopics,
  testEnv,
  uniqueId,
  webhookBody,
} from '@ig-router/testkit';
import type { Consumer } from 'kafkajs';
import { freePort } from '../infra/local/src/processes.js';
import { fetchOk, postJson } from './http.js';

/**
 * End-to-end latency: from the start of a signed webhook POST to the gateway until the
 * auto-reply it causes reaches the Graph API simulator. The path is gateway → ig.raw → router →
 * ig.events → examples/auto-reply → ig.outbound → sender → simulator.
 *
 * Gateway, router (with the projector), sender, auto-reply and simulator each run in their own
 * process, as under `npm start`, on the local stack's Kafka, PostgreSQL and KMS, with a fresh
 * topic prefix, database and consumer groups. The simulator responds without delay. Each webhook
 * carries one text message from a customer id (IGSID) used only once, and the reply's
 * `recipient.id` is that IGSID, which matches a reply to its webhook. Load is open loop: POSTs
 * start on schedule whether or not earlier ones were answered.
 *
 * 1. fixed: FIXED_RATE webhooks per second for FIXED_SECONDS, with p50, p95 and p99 latency;
 * 2. steps of STEP_SECONDS at higher rates while p99 stays under TARGET_P99_MS (lower rates when
 *    the fixed rate already misses it), to find the highest rate sustained with p99 under it.
 * Between runs the pipeline drains, so each run starts with empty queues. Each run also reports
 * the p50 and p99 of the stages between the marks of `Marks`, to show which hop dominates.
 *
 * TODO: the target, 1,000 webhooks/s with p99 under 100 ms, is not reached on the 2-core machine
 * of bench/results/e2e.json, where the broker, PostgreSQL and every service share the cores: at
 * 1,000/s p50 was 173 ms and p99 1,314 ms, with the tail in the router's transactions
 * (`to_ig_events`) and the sender's queueing (`command_to_graph`).
 */

const ACCOUNTS = Number(process.env.BENCH_E2E_ACCOUNTS ?? 100);
const PARTITIONS = 6;
const FIXED_RATE = Number(process.env.BENCH_E2E_RATE ?? 1_000);
const FIXED_SECONDS = Number(process.env.BENCH_E2E_SECONDS ?? 30);
const STEP_SECONDS = Number(process.env.BENCH_E2E_STEP_SECONDS ?? 10);
// Step rates as multiples of FIXED_RATE: 1,500 to 4,000 and 750 to 100 webhooks/s by default.
const RATES_UP = [1.5, 2, 3, 4].map((factor) => Math.round(FIXED_RATE * factor));
const RATES_DOWN = [0.75, 0.5, 0.25, 0.1].map((factor) => Math.round(FIXED_RATE * factor));
const TARGET_RATE = 1_000;
const TARGET_P99_MS = 100;
/** The step search stops starting new steps after this many seconds of the whole run. */
const STEP_BUDGET_S = 200;
const DRAIN_TIMEOUT_MS = 60_000;
const TICK_MS = 5;
const CONNECTIONS = 128;
const APP_SECRET = 'bench-e2e-app-secret';
const REPLY_TEXT = 'Thanks for your message! (bench)';

interface ChildHandle {
  name: string;
  child: ChildProcess;
  /** The last lines of its output, for errors and readiness checks. */
  output: string[];
  exited: Promise<number | null>;
}

interface RunFigures {
  rate_per_s: number;
  seconds: number;
  webhooks: number;
  responses_2xx: number;
  responses_other: number;
  request_errors: number;
  replies: number;
  missing_replies: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  max_ms: number;
  /** p50 and p99 of each stage of the path, in ms; see `Marks`. */
  stages: Record<StageName, { p50_ms: number; p99_ms: number }>;
  /** Latest start of a POST after its scheduled time; a large value means the load generator fell behind. */
  generator_max_lag_ms: number;
}

/** Times in ms at which one webhook's message passed each point, keyed by its IGSID. */
interface Marks {
  posted: number;
  /** The gateway's 200 response reached the load generator. */
  answered?: number;
  /** The bench's own read_committed consumer read the event from ig.events. */
  routed?: number;
  /** `created_at` of the reply command, set by the auto-reply consumer. */
  commanded?: number;
}

/**
 * Stages between the marks. `to_ig_events` includes the bench consumer's fetch, and
 * `ig_events_to_command` starts when that consumer read the event, not the auto-reply consumer,
 * so it can be negative when the auto-reply read it first.
 */
const stageNames = [
  'gateway_response',
  'to_ig_events',
  'ig_events_to_command',
  'command_to_graph',
] as const;
type StageName = (typeof stageNames)[number];

interface Pipeline {
  gatewayPort: number;
  simUrl: string;
  accounts: string[];
  payloads: MetaPayloads;
  /** Marks of the webhooks of the current run. */
  marks: Map<string, Marks>;
}

export async function run(log: (line: string) => void): Promise<Record<string, unknown>> {
  const started = Date.now();
  const loadBefore = loadavg()[0] ?? 0;
  const children: ChildHandle[] = [];
  let topics: TestTopics | undefined;
  let database: TestDatabase | undefined;
  let follower: Consumer | undefined;
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  try {
    [topics, database] = await Promise.all([
      createTestTopics('bench-e2e', PARTITIONS),
      createTestDatabase('bench_e2e'),
    ]);
    const pipeline = await startPipeline(topics, database, children, log);
    follower = await followMarks(topics, pipeline.marks);
    const measure = (rate: number, seconds: number) =>
      measureRun(pipeline, agent, children, rate, seconds);

    const warmupStarted = Date.now();
    const warmup = await measure(ACCOUNTS, 1);
    if (warmup.missing_replies > 0)
      throw new Error(`warm-up: ${warmup.missing_replies} of ${warmup.webhooks} replies missing`);
    log(
      `warm-up: one webhook per account (${ACCOUNTS}), all replied, in ${seconds(Date.now() - warmupStarted)} s`,
    );

    const fixed = await measure(FIXED_RATE, FIXED_SECONDS);
    log(`fixed: ${describeRun(fixed)}`);

    const steps: RunFigures[] = [];
    const passes = (figures: RunFigures) =>
      figures.missing_replies === 0 &&
      figures.responses_other === 0 &&
      figures.request_errors === 0 &&
      figures.p99_ms < TARGET_P99_MS;
    let highest: number | null = passes(fixed) ? FIXED_RATE : null;
    const goingUp = passes(fixed);
    for (const rate of goingUp ? RATES_UP : RATES_DOWN) {
      if ((Date.now() - started) / 1000 > STEP_BUDGET_S) {
        log(`step search stopped: the run has taken over ${STEP_BUDGET_S} s`);
        break;
      }
      const step = await measure(rate, STEP_SECONDS);
      steps.push(step);
      log(
        `step: ${describeRun(step)}${passes(step) ? '' : ` (p99 not under ${TARGET_P99_MS} ms)`}`,
      );
      if (goingUp && !passes(step)) break;
      if (goingUp) highest = rate;
      if (!goingUp && passes(step)) {
        highest = rate;
        break;
      }
    }
    log(
      `highest rate sustained with p99 under ${TARGET_P99_MS} ms: ${highest === null ? 'none of the rates tried' : `${highest} webhooks/s`} (rates tried: ${[FIXED_RATE, ...steps.map((s) => s.rate_per_s)].join(', ')})`,
    );

    return {
      accounts: ACCOUNTS,
      partitions: PARTITIONS,
      graph_latency_ms: 0,
      events_per_webhook: 1,
      fixed,
      steps,
      max_rate_with_p99_under_target: highest,
      target_rate_per_s: TARGET_RATE,
      target_p99_ms: TARGET_P99_MS,
      load_average_1m_before: Math.round(loadBefore * 10) / 10,
      load_average_1m_after: Math.round((loadavg()[0] ?? 0) * 10) / 10,
    };
  } finally {
    agent.destroy();
    await follower?.disconnect().catch(() => {});
    // Gateway first, so nothing new enters while the others stop, as npm start does.
    for (const name of ['gateway', 'auto-reply', 'router', 'sender', 'graph-sim']) {
      await stopChild(children.find((handle) => handle.name === name));
    }
    await database?.drop().catch(() => {});
    await topics?.cleanup().catch(() => {});
  }
}

async function startPipeline(
  topics: TestTopics,
  database: TestDatabase,
  children: ChildHandle[],
  log: (line: string) => void,
): Promise<Pipeline> {
  const simPort = await freePort();
  const simUrl = `http://127.0.0.1:${simPort}`;
  children.push(
    spawnChild('graph-sim', 'libs/testkit/src/graph-sim/main.ts', {
      GRAPH_SIM_PORT: String(simPort),
      GRAPH_SIM_LATENCY_MS: '0',
      LOG_LEVEL: 'warn',
    }),
  );
  await waitFor('the simulator', () => fetchOk(`${simUrl}/_sim/accounts`), 30_000, children);

  const payloads = new MetaPayloads({ seed: Math.floor(Math.random() * 100_000) });
  const seedStarted = Date.now();
  const accounts = await seedAccounts(database, simUrl, payloads);
  log(
    `seeded ${ACCOUNTS} accounts with KMS-encrypted tokens in ${seconds(Date.now() - seedStarted)} s`,
  );

  const env = (extra: Record<string, string>) =>
    serviceEnv({ prefix: topics.prefix, databaseUrl: database.url, extra });
  const gatewayPort = await freePort();
  children.push(
    spawnChild(
      'router',
      'services/router/src/main.ts',
      env({
        METRICS_PORT: '0',
        ROUTER_GROUP_ID: uniqueId('bench-e2e-router'),
        PROJECTOR_GROUP_ID: uniqueId('bench-e2e-projector'),
      }),
    ),
    spawnChild(
      'sender',
      'services/sender/src/main.ts',
      env({
        GRAPH_API_URL: simUrl,
        METRICS_PORT: '0',
        SENDER_GROUP_ID: uniqueId('bench-e2e-sender'),
      }),
    ),
    spawnChild(
      'auto-reply',
      'examples/auto-reply/src/main.ts',
      env({ AUTO_REPLY_GROUP_ID: uniqueId('bench-e2e-auto-reply'), AUTO_REPLY_TEXT: REPLY_TEXT }),
    ),
    spawnChild(
      'gateway',
      'services/gateway/src/main.ts',
      env({
        HOST: '127.0.0.1',
        PORT: String(gatewayPort),
        META_APP_SECRET: APP_SECRET,
        META_VERIFY_TOKEN: 'bench-e2e-verify-token',
        GATEWAY_INSTANCE: 'bench-e2e',
      }),
    ),
  );
  const ready = await waitFor(
    'the services to start',
    async () =>
      (await fetchOk(`http://127.0.0.1:${gatewayPort}/healthz`)) &&
      ['router', 'sender', 'auto-reply'].every((name) =>
        children
          .find((handle) => handle.name === name)
          ?.output.join('')
          .includes(`${name} started`),
      ),
    90_000,
    children,
  );
  log(`gateway, router, sender and auto-reply started in ${seconds(ready)} s`);
  return { gatewayPort, simUrl, accounts, payloads, marks: new Map() };
}

/**
 * Posts `rate` webhooks per second for `durationS` seconds, waits
 * until every reply reached the simulator or DRAIN_TIMEOUT_MS passed, and clears the
 * simulator's request log.
 */
async function measureRun(
  pipeline: Pipeline,
  agent: Agent,
  children: ChildHandle[],
  rate: number,
  durationS: number,
): Promise<RunFigures> {
  const count = Math.round(rate * durationS);
  const marks = pipeline.marks;
  marks.clear();
  const statuses = { ok: 0, other: 0, errors: 0 };
  const inFlight = new Set<Promise<void>>();
  let maxLagMs = 0;
  const runStarted = Date.now();
  let issued = 0;
  while (issued < count) {
    const elapsedMs = Date.now() - runStarted;
    const due = Math.min(count, Math.floor((elapsedMs / 1000) * rate) + 1);
    for (; issued < due; issued += 1) {
      maxLagMs = Math.max(maxLagMs, Date.now() - (runStarted + (issued * 1000) / rate));
      const account = pipeline.accounts[issued % pipeline.accounts.length] as string;
      const igsid = pipeline.payloads.nextId();
      const delivery = metaDelivery(
        webhookBody({
          entries: [
            {
              id: account,
              messaging: [
                pipeline.payloads.textMessage({
                  ig_business_id: account,
                  igsid,
                  timestamp: Date.now(),
                  text: `Olá! Pedido ${issued} chegou? 📦`,
                }),
              ],
            },
          ],
        }),
        APP_SECRET,
      );
      const mark: Marks = { posted: Date.now() };
      marks.set(igsid, mark);
      const post = postWebhook(agent, pipeline.gatewayPort, delivery.body, {
        ...delivery.headers,
      }).then(
        (status) => {
          mark.answered = Date.now();
          if (status === 200) statuses.ok += 1;
          else statuses.other += 1;
        },
        () => {
          statuses.errors += 1;
        },
      );
      inFlight.add(post);
      void post.finally(() => inFlight.delete(post));
    }
    assertRunning(children);
    await new Promise((resolve) => setTimeout(resolve, TICK_MS));
  }
  await Promise.all(inFlight);

  const replies = await drainReplies(pipeline.simUrl, marks, children);
  const latencies: number[] = [];
  const stages = Object.fromEntries(stageNames.map((name) => [name, [] as number[]])) as Record<
    StageName,
    number[]
  >;
  for (const reply of replies) {
    const mark = marks.get(reply.recipient_id as string);
    if (mark === undefined || reply.status !== 200) continue;
    const arrived = Date.parse(reply.at);
    latencies.push(arrived - mark.posted);
    if (mark.answered !== undefined) stages.gateway_response.push(mark.answered - mark.posted);
    if (mark.routed !== undefined) stages.to_ig_events.push(mark.routed - mark.posted);
    if (mark.routed !== undefined && mark.commanded !== undefined)
      stages.ig_events_to_command.push(mark.commanded - mark.routed);
    if (mark.commanded !== undefined) stages.command_to_graph.push(arrived - mark.commanded);
  }
  latencies.sort((a, b) => a - b);
  for (const list of Object.values(stages)) list.sort((a, b) => a - b);
  return {
    rate_per_s: rate,
    seconds: durationS,
    webhooks: count,
    responses_2xx: statuses.ok,
    responses_other: statuses.other,
    request_errors: statuses.errors,
    replies: latencies.length,
    missing_replies: count - latencies.length,
    p50_ms: quantile(latencies, 0.5),
    p95_ms: quantile(latencies, 0.95),
    p99_ms: quantile(latencies, 0.99),
    max_ms: latencies.at(-1) ?? 0,
    stages: Object.fromEntries(
      stageNames.map((name) => [
        name,
        { p50_ms: quantile(stages[name], 0.5), p99_ms: quantile(stages[name], 0.99) },
      ]),
    ) as RunFigures['stages'],
    generator_max_lag_ms: Math.round(maxLagMs),
  };
}

/**
 * Marks when each webhook's event is readable in ig.events (read_committed, like the auto-reply
 * consumer) and the `created_at` of its reply command in ig.outbound.
 */
async function followMarks(topics: TestTopics, marks: Map<string, Marks>): Promise<Consumer> {
  const consumer = topics.kafka.consumer({
    groupId: uniqueId('bench-e2e-marks'),
    readUncommitted: false,
    maxWaitTimeInMs: 100,
  });
  await consumer.connect();
  await consumer.subscribe({
    topics: [topics.names.events, topics.names.outbound],
    fromBeginning: true,
  });
  await consumer.run({
    autoCommit: false,
    partitionsConsumedConcurrently: PARTITIONS * 2,
    eachBatch: async ({ batch }) => {
      const now = Date.now();
      for (const message of batch.messages) {
        const value = JSON.parse(message.value?.toString('utf8') ?? '{}') as {
          sender_id?: string;
          recipient?: { id?: string };
          created_at?: string;
        };
        if (batch.topic === topics.names.events) {
          const mark = value.sender_id ? marks.get(value.sender_id) : undefined;
          if (mark) mark.routed = now;
        } else {
          const mark = value.recipient?.id ? marks.get(value.recipient.id) : undefined;
          if (mark && value.created_at) mark.commanded = Date.parse(value.created_at);
        }
      }
    },
  });
  return consumer;
}

/** Polls the simulator's request log until it contains a reply for every webhook, then clears it. */
async function drainReplies(
  simUrl: string,
  marks: Map<string, Marks>,
  children: ChildHandle[],
): Promise<SendRequestRecord[]> {
  const deadline = Date.now() + DRAIN_TIMEOUT_MS;
  let replies: SendRequestRecord[] = [];
  for (;;) {
    const response = await fetch(`${simUrl}/_sim/requests`);
    const body = (await response.json()) as { requests: SendRequestRecord[] };
    replies = body.requests.filter(
      (reply) => reply.recipient_id !== null && marks.has(reply.recipient_id),
    );
    if (replies.length >= marks.size || Date.now() > deadline) break;
    assertRunning(children);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  await fetch(`${simUrl}/_sim/requests`, { method: 'DELETE' });
  return replies;
}

function postWebhook(
  agent: Agent,
  port: number,
  body: Buffer,
  headers: Record<string, string>,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: '127.0.0.1',
        port,
        path: '/webhook',
        method: 'POST',
        headers: { ...headers, 'content-length': String(body.length) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Inserts a client and ACCOUNTS accounts with KMS-encrypted tokens, and registers them in the simulator. */
async function seedAccounts(
  database: TestDatabase,
  simUrl: string,
  payloads: MetaPayloads,
): Promise<string[]> {
  const env = testEnv();
  const crypto = new TokenCrypto(createKmsClient(env), env.KMS_KEY_ID);
  const client = await database.db
    .insertInto('clients')
    .values({ name: 'bench-e2e', api_key_hash: uniqueId('hash'), api_key_prefix: 'igr_bench' })
    .returning('client_id')
    .executeTakeFirstOrThrow();
  const ids = Array.from({ length: ACCOUNTS }, () => payloads.nextId());
  for (let start = 0; start < ids.length; start += 25) {
    await Promise.all(
      ids.slice(start, start + 25).map(async (id) => {
        const token = `EAAGbench${uniqueId('t').replace(/-/g, '')}`;
        const pageId = `2${id.slice(1)}`;
        const username = `bench_e2e_${id.slice(-6)}`;
        const sealed = await crypto.encrypt(
          { ig_business_id: id, client_id: client.client_id },
          token,
        );
        await postJson(`${simUrl}/_sim/accounts`, {
          ig_business_id: id,
          page_id: pageId,
          username,
          token,
        });
        await database.db
          .insertInto('ig_accounts')
          .values({
            ig_business_id: id,
            client_id: client.client_id,
            username,
            page_id: pageId,
            ...encryptedTokenColumns(sealed),
          })
          .execute();
      }),
    );
  }
  return ids;
}

function spawnChild(name: string, entry: string, env: Record<string, string>): ChildHandle {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', entry], {
    cwd: new URL('../', import.meta.url).pathname,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    output.push(chunk.toString('utf8'));
    // Services log every reply at info level; only the recent output is needed.
    if (output.length > 200) output.splice(0, output.length - 200);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { name, child, output, exited };
}

/** Throws when a service exited before the end of the benchmark, with the end of its output. */
function assertRunning(children: ChildHandle[]): void {
  const dead = children.find(
    (handle) => handle.child.exitCode !== null || handle.child.signalCode !== null,
  );
  if (dead) {
    throw new Error(
      `${dead.name} exited (${dead.child.exitCode ?? dead.child.signalCode}); its last output:\n${dead.output.join('').slice(-3_000)}`,
    );
  }
}

async function stopChild(handle: ChildHandle | undefined): Promise<void> {
  if (!handle || handle.child.exitCode !== null || handle.child.signalCode !== null) return;
  handle.child.kill('SIGTERM');
  const timer = setTimeout(() => handle.child.kill('SIGKILL'), 20_000);
  await handle.exited;
  clearTimeout(timer);
}

/** Polls `check` every 100 ms; returns the elapsed ms, or throws after `timeoutMs`. */
async function waitFor(
  description: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  children: ChildHandle[],
): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    assertRunning(children);
    if (Date.now() - started > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return Date.now() - started;
}

function describeRun(figures: RunFigures): string {
  return (
    `${figures.rate_per_s} webhooks/s for ${figures.seconds} s: ${figures.webhooks} webhooks, ` +
    `${figures.responses_2xx} answered 200, ${figures.responses_other} other, ${figures.request_errors} errors; ` +
    `${figures.replies} replies, ${figures.missing_replies} missing; latency p50 ${figures.p50_ms} ms, ` +
    `p95 ${figures.p95_ms} ms, p99 ${figures.p99_ms} ms, max ${figures.max_ms} ms; stages p50/p99 ` +
    stageNames
      .map((name) => `${name} ${figures.stages[name].p50_ms}/${figures.stages[name].p99_ms} ms`)
      .join(', ') +
    '; ' +
    `load generator at most ${figures.generator_max_lag_ms} ms behind schedule`
  );
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}
