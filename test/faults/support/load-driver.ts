import { createWriteStream } from 'node:fs';
import { MetaPayloads, signedHeaders, toMetaJson, webhookBody } from '@ig-router/testkit';

/**
 * Load driver of the fault suite, run as its own process: posts signed webhook deliveries to
 * the gateway at a steady rate, bounded in count and time, and writes one JSON line per
 * request to `outFile`. Every item carries a unique `mid` (`<delivery id>.<item>`), so the
 * checks can find each delivery in `ig.raw` and each item in `ig.events`.
 * Settings come as JSON in FAULTS_LOAD (the App Secret is never on the command line).
 */
export interface LoadSettings {
  url: string;
  appSecret: string;
  /** Registered, active accounts: their items are routable. */
  accounts: string[];
  /** An account that is not registered: its entries go to ig.events.unrouted. */
  unknownAccount: string;
  ratePerSecond: number;
  durationMs: number;
  maxRequests: number;
  /** Maximum requests waiting for a response. A tick beyond that is recorded as skipped. */
  maxInFlight: number;
  requestTimeoutMs: number;
  idPrefix: string;
  seed: number;
  outFile: string;
}

/** One line of the driver's output file. */
export interface LoadRecord {
  n: number;
  /** Delivery id: the prefix of every mid in the body. */
  id: string;
  /** HTTP status, or 0 without a response (timeout, connection refused), or -1 when skipped. */
  status: number;
  ms: number;
  /** mids of the items of registered accounts. */
  routable: string[];
  /** Entries of the unknown account. */
  unrouted: number;
  error?: string;
}

/** A small deterministic generator (mulberry32), so a seed reproduces the same bodies. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function buildDelivery(
  settings: LoadSettings,
  n: number,
  random: () => number,
  payloads: MetaPayloads,
): { body: string; record: Omit<LoadRecord, 'status' | 'ms'> } {
  const id = `${settings.idPrefix}-${n}`;
  const routable: string[] = [];
  let unrouted = 0;
  const entryCount = random() < 0.2 ? 2 : 1;
  let itemIndex = 0;
  const entries = [];
  for (let e = 0; e < entryCount; e += 1) {
    const unknown = random() < 0.05;
    const account = unknown
      ? settings.unknownAccount
      : (settings.accounts[(n + e) % settings.accounts.length] as string);
    const itemCount = 1 + Math.floor(random() * 3);
    const messaging = [];
    for (let i = 0; i < itemCount; i += 1) {
      const mid = `${id}.${itemIndex}`;
      itemIndex += 1;
      if (!unknown) routable.push(mid);
      messaging.push(
        payloads.textMessage({
          ig_business_id: account,
          igsid: `9${String(1 + Math.floor(random() * 500)).padStart(15, '0')}`,
          text: `fault load ${id} item ${i}`,
          mid,
          timestamp: Date.now(),
        }),
      );
    }
    if (unknown) unrouted += 1;
    entries.push({ id: account, messaging });
  }
  return { body: toMetaJson(webhookBody({ entries })), record: { n, id, routable, unrouted } };
}

async function main(): Promise<void> {
  const settings = JSON.parse(process.env.FAULTS_LOAD ?? '{}') as LoadSettings;
  const out = createWriteStream(settings.outFile, { flags: 'w' });
  const random = generator(settings.seed);
  const payloads = new MetaPayloads({ seed: settings.seed % 100_000 });
  const intervalMs = 1000 / settings.ratePerSecond;
  const started = Date.now();
  const inFlight = new Set<Promise<void>>();
  const counts = new Map<number, number>();

  const post = async (n: number): Promise<void> => {
    const { body, record } = buildDelivery(settings, n, random, payloads);
    const sentAt = Date.now();
    let status = 0;
    let error: string | undefined;
    try {
      const response = await fetch(settings.url, {
        method: 'POST',
        headers: signedHeaders(body, settings.appSecret) as unknown as Record<string, string>,
        body,
        signal: AbortSignal.timeout(settings.requestTimeoutMs),
      });
      status = response.status;
      await response.arrayBuffer().catch(() => undefined);
    } catch (err) {
      error = (err as Error).name;
    }
    counts.set(status, (counts.get(status) ?? 0) + 1);
    const line: LoadRecord = { ...record, status, ms: Date.now() - sentAt };
    if (error) line.error = error;
    out.write(`${JSON.stringify(line)}\n`);
  };

  for (let n = 0; n < settings.maxRequests; n += 1) {
    const due = started + n * intervalMs;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((resolveWait) => setTimeout(resolveWait, wait));
    if (Date.now() - started >= settings.durationMs) break;
    if (inFlight.size >= settings.maxInFlight) {
      const { record } = buildDelivery(settings, n, random, payloads);
      counts.set(-1, (counts.get(-1) ?? 0) + 1);
      out.write(`${JSON.stringify({ ...record, status: -1, ms: 0 } satisfies LoadRecord)}\n`);
      continue;
    }
    const request = post(n).finally(() => inFlight.delete(request));
    inFlight.add(request);
  }
  await Promise.all(inFlight);
  await new Promise<void>((resolveEnd) => out.end(resolveEnd));
  process.stdout.write(
    `${JSON.stringify({ elapsed_ms: Date.now() - started, statuses: Object.fromEntries(counts) })}\n`,
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`load driver failed: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
