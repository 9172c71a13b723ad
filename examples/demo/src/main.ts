import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, openSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  createIdempotentProducer,
  createKafka,
  createLogger,
  environmentWithStack,
  igEventV1Schema,
  kafkaEnvSchema,
  loadConfig,
  parseDotenv,
  topicNames,
  unroutedRecordSchema,
} from '@ig-router/core';
import type { Consumer } from 'kafkajs';
import { startAutoReply } from '../../auto-reply/src/auto-reply.js';
import { buildScenario, type DemoAccount } from './scenario.js';

/**
 * `npm run demo`: onboards two demo accounts through the Graph API simulator, posts signed,
 * real-shaped webhooks to the running pipeline, waits for the events in `ig.events` and the
 * auto-replies at the simulator, and prints what arrived. Exit code 0 only when every expected
 * event and reply arrived.
 */

const repoRoot = resolve(import.meta.dirname, '..', '..', '..');
const stackDir = process.env.IGR_STACK_DIR ?? join(repoRoot, '.stack');
const pipelineFile = join(stackDir, 'pipeline.json');
const timeoutMs = Number(process.env.DEMO_TIMEOUT_MS ?? 60_000);

interface Pipeline {
  gateway_url: string;
  graph_api_url: string;
  graph_simulator: boolean;
}

function say(line: string): void {
  process.stdout.write(`[demo] ${line}\n`);
}

async function gatewayHealthy(url: string): Promise<boolean> {
  const response = await fetch(`${url}/healthz`).catch(() => undefined);
  return response?.ok === true;
}

function readPipeline(): Pipeline | undefined {
  if (!existsSync(pipelineFile)) return undefined;
  return JSON.parse(readFileSync(pipelineFile, 'utf8')) as Pipeline;
}

/** Returns the running pipeline, or starts `npm start` in the background and waits for it. */
async function ensurePipeline(): Promise<{ pipeline: Pipeline; started?: ChildProcess }> {
  const running = readPipeline();
  if (running && (await gatewayHealthy(running.gateway_url))) return { pipeline: running };

  const logFile = join(stackDir, 'demo-pipeline.log');
  say(`no running pipeline found; starting npm start in the background (log: ${logFile})`);
  const log = openSync(logFile, 'a');
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=source', join(repoRoot, 'infra/local/src/start.ts')],
    {
      cwd: repoRoot,
      env: { ...process.env, IGR_KEEP_STACK: '1' },
      stdio: ['ignore', log, log],
      detached: true,
    },
  );
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    const pipeline = readPipeline();
    if (pipeline && (await gatewayHealthy(pipeline.gateway_url)))
      return { pipeline, started: child };
    if (child.exitCode !== null)
      throw new Error(`npm start exited with code ${child.exitCode}; see ${logFile}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`the pipeline did not start within 180 s; see ${logFile}`);
}

function appSecret(): string {
  if (process.env.META_APP_SECRET) return process.env.META_APP_SECRET;
  const file = join(stackDir, 'meta-app.env');
  const secret = existsSync(file)
    ? parseDotenv(readFileSync(file, 'utf8')).META_APP_SECRET
    : undefined;
  if (!secret)
    throw new Error(
      'META_APP_SECRET is not set and .stack/meta-app.env has none; start the pipeline with npm start first',
    );
  return secret;
}

/** Runs `igr` as a user would, with the token on standard input; returns its JSON output. */
async function igr(
  args: string[],
  env: NodeJS.ProcessEnv,
  stdin?: string,
): Promise<Record<string, unknown>> {
  const child = spawn(
    process.execPath,
    [join(repoRoot, 'services/cli/bin/igr.js'), ...args, '--json'],
    {
      cwd: repoRoot,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  child.stdin.end(stdin ?? '');
  const code = await new Promise<number | null>((r) => child.on('close', r));
  if (code !== 0) throw new Error(`igr ${args.join(' ')} failed (exit ${code}): ${stderr.trim()}`);
  return JSON.parse(stdout) as Record<string, unknown>;
}

function demoAccount(label: string, run: string): DemoAccount {
  return {
    label,
    ig_business_id: `178414${randomInt(10 ** 10, 10 ** 11 - 1)}`,
    page_id: `10${randomInt(10 ** 13, 10 ** 14 - 1)}`,
    username: `demo_${label.toLowerCase()}_${run}`,
    token: `EAAD${randomBytes(24).toString('base64url')}`,
  };
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

async function collect(
  consumer: Consumer,
  topic: string,
  onRecord: (value: Buffer, timestamp: number) => void,
): Promise<void> {
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (message.value) onRecord(message.value, Date.now());
    },
  });
}

async function main(): Promise<number> {
  const { pipeline, started } = await ensurePipeline();
  if (!pipeline.graph_simulator) {
    process.stderr.write(
      '[demo] the running pipeline sends through the real Graph API; the demo only runs against the simulator (start npm start without GRAPH_API_URL)\n',
    );
    return 1;
  }
  const env = environmentWithStack();
  const kafkaConfig = loadConfig(kafkaEnvSchema, env);
  const topics = topicNames(kafkaConfig.TOPIC_PREFIX);
  const logger = createLogger({ service: 'demo', level: 'warn' });
  const kafka = createKafka(kafkaConfig, 'igr-demo', logger);
  const cliEnv = { ...env, GRAPH_API_URL: pipeline.graph_api_url, LOG_LEVEL: 'warn' };

  const run = randomBytes(3).toString('hex');
  const a = demoAccount('A', run);
  const b = demoAccount('B', run);
  const unknownAccountId = `178414${randomInt(10 ** 10, 10 ** 11 - 1)}`;
  const byId = new Map([
    [a.ig_business_id, a.label],
    [b.ig_business_id, b.label],
  ]);

  say(`registering demo accounts @${a.username} and @${b.username} in the Graph API simulator`);
  for (const account of [a, b]) {
    const response = await fetch(`${pipeline.graph_api_url}/_sim/accounts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        ig_business_id: account.ig_business_id,
        page_id: account.page_id,
        username: account.username,
        token: account.token,
      }),
    });
    if (!response.ok)
      throw new Error(
        `the simulator rejected account ${account.username}: ${response.status} ${await response.text()}`,
      );
  }

  const client = await igr(['clients', 'create', '--name', `demo-${run}`], cliEnv);
  say(`created client ${String(client.client_id)} (igr clients create)`);
  for (const account of [a, b]) {
    const onboarded = await igr(
      ['accounts', 'onboard', '--client', String(client.client_id), '--token-stdin'],
      cliEnv,
      `${account.token}\n`,
    );
    say(
      `onboarded ${String(onboarded.ig_business_id)} (@${String(onboarded.username)}) with igr accounts onboard`,
    );
  }

  // The example consumer answers message.received events of the two demo accounts only.
  const replier = await startAutoReply({
    kafka,
    producer: createIdempotentProducer(kafka),
    logger,
    prefix: kafkaConfig.TOPIC_PREFIX,
    groupId: `demo-auto-reply-${run}`,
    replyText: 'Thanks for your message! (ig-router demo)',
    dedupeSize: 1_000,
    accounts: new Set(byId.keys()),
  });

  const scenario = buildScenario(a, b, unknownAccountId, appSecret(), randomInt(0, 100_000));
  const events: Array<{ account: string; type: string; latencyMs: number }> = [];
  const unrouted: string[] = [];
  const postedAt = new Map<string, number>();

  const eventReader = kafka.consumer({ groupId: `demo-events-${run}` });
  const unroutedReader = kafka.consumer({ groupId: `demo-unrouted-${run}` });
  await collect(eventReader, topics.events, (value, at) => {
    const parsed = igEventV1Schema.safeParse(JSON.parse(value.toString('utf8')));
    if (!parsed.success) return;
    const label = byId.get(parsed.data.ig_business_id);
    if (!label) return;
    const sentAt = postedAt.get(parsed.data.ig_business_id) ?? at;
    events.push({ account: label, type: parsed.data.type, latencyMs: at - sentAt });
  });
  await collect(unroutedReader, topics.unrouted, (value) => {
    const parsed = unroutedRecordSchema.safeParse(JSON.parse(value.toString('utf8')));
    if (parsed.success && parsed.data.entry_id === unknownAccountId)
      unrouted.push(parsed.data.entry_id);
  });

  say(
    `posting ${scenario.deliveries.length} signed webhook deliveries to ${pipeline.gateway_url}/webhook`,
  );
  const firstPost = Date.now();
  for (const delivery of scenario.deliveries) {
    const at = Date.now();
    const response = await fetch(`${pipeline.gateway_url}/webhook`, {
      method: 'POST',
      headers: delivery.headers,
      body: delivery.body,
    });
    for (const id of [a.ig_business_id, b.ig_business_id]) {
      if (delivery.body.includes(id)) postedAt.set(id, at);
    }
    say(`  ${delivery.name.padEnd(24)} -> ${response.status}`);
    if (response.status !== 200) {
      const hint =
        response.status === 403
          ? '; the demo signs with META_APP_SECRET or, when unset, the local value in .stack/meta-app.env, so run it with the same META_APP_SECRET as npm start'
          : '';
      throw new Error(`the gateway answered ${response.status} to "${delivery.name}"${hint}`);
    }
  }

  let replies: Array<{ ig_business_id: string; at: string | number }> = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await fetch(`${pipeline.graph_api_url}/_sim/requests`);
    const body = (await response.json()) as
      | { requests?: Array<Record<string, unknown>> }
      | Array<Record<string, unknown>>;
    const list = Array.isArray(body) ? body : (body.requests ?? []);
    replies = list
      .filter(
        (r) =>
          byId.has(String(r.ig_business_id)) &&
          String(r.command_id ?? '').startsWith('auto-reply-') &&
          Number(r.status ?? 200) < 300,
      )
      .map((r) => ({ ig_business_id: String(r.ig_business_id), at: r.at as string | number }));
    const done =
      events.length >= scenario.expectedEvents.length &&
      unrouted.length >= scenario.expectedUnrouted.length &&
      replies.length >= scenario.expectedReplies;
    if (done || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 250));
  }

  await Promise.all([eventReader.disconnect(), unroutedReader.disconnect(), replier.stop()]);

  const replyLatencies = replies.map((r) => new Date(r.at).getTime() - firstPost);
  printReport(
    scenario.expectedEvents,
    events,
    unrouted,
    scenario.expectedUnrouted.length,
    replies.length,
    scenario.expectedReplies,
    replyLatencies,
  );

  const missing = missingEvents(scenario.expectedEvents, events);
  const ok =
    missing.length === 0 &&
    unrouted.length >= scenario.expectedUnrouted.length &&
    replies.length >= scenario.expectedReplies;
  if (!ok) {
    process.stderr.write('[demo] FAILED; missing:\n');
    for (const line of missing) process.stderr.write(`  event ${line}\n`);
    if (unrouted.length < scenario.expectedUnrouted.length)
      process.stderr.write(`  unrouted entry of account ${unknownAccountId}\n`);
    if (replies.length < scenario.expectedReplies)
      process.stderr.write(
        `  ${scenario.expectedReplies - replies.length} of ${scenario.expectedReplies} auto-replies at the simulator\n`,
      );
  } else {
    say('all expected events and replies arrived');
  }
  if (started) {
    say('stopping the pipeline the demo started');
    try {
      process.kill(-(started.pid as number), 'SIGINT');
    } catch {}
  }
  return ok ? 0 : 1;
}

function missingEvents(
  expected: Array<{ account: string; type: string }>,
  actual: Array<{ account: string; type: string }>,
): string[] {
  const left = [...actual];
  const missing: string[] = [];
  for (const want of expected) {
    const index = left.findIndex((e) => e.account === want.account && e.type === want.type);
    if (index >= 0) left.splice(index, 1);
    else missing.push(`${want.type} for account ${want.account}`);
  }
  return missing;
}

function printReport(
  expected: Array<{ account: string; type: string }>,
  events: Array<{ account: string; type: string; latencyMs: number }>,
  unrouted: string[],
  expectedUnrouted: number,
  replies: number,
  expectedReplies: number,
  replyLatencies: number[],
): void {
  const keys = [...new Set(expected.map((e) => `${e.account}\t${e.type}`))].sort();
  const count = (list: Array<{ account: string; type: string }>, key: string) =>
    list.filter((e) => `${e.account}\t${e.type}` === key).length;
  process.stdout.write('\n  account  type                 expected  arrived\n');
  for (const key of keys) {
    const [account, type] = key.split('\t') as [string, string];
    process.stdout.write(
      `  ${account.padEnd(8)} ${type.padEnd(20)} ${String(count(expected, key)).padStart(8)}  ${String(count(events, key)).padStart(7)}\n`,
    );
  }
  process.stdout.write(
    `  ${'unrouted (unknown account)'.padEnd(29)} ${String(expectedUnrouted).padStart(8)}  ${String(unrouted.length).padStart(7)}\n`,
  );
  process.stdout.write(
    `  ${'auto-replies at the simulator'.padEnd(29)} ${String(expectedReplies).padStart(8)}  ${String(replies).padStart(7)}\n`,
  );
  const eventLatencies = events.map((e) => e.latencyMs);
  process.stdout.write(
    `\n  webhook -> ig.events latency: p50 ${percentile(eventLatencies, 50)} ms, max ${Math.max(...eventLatencies, 0)} ms\n`,
  );
  process.stdout.write(
    `  first webhook -> reply at the Graph API: p50 ${percentile(replyLatencies, 50)} ms, max ${Math.max(...replyLatencies, 0)} ms\n\n`,
  );
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`[demo] ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
