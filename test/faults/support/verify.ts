import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TopicKey } from '@ig-router/core';
import type { Kafka } from 'kafkajs';
import { kafkaLibDir } from '../../../infra/local/src/kafka.js';
import type { LoadRecord } from './load-driver.js';
import { readTopicToEnd, type TopicRecord } from './read-topic.js';

/** The figures printed for each scenario. */
export interface Figures {
  scenario: string;
  /** Requests the driver made (skipped ticks excluded). */
  sent: number;
  ok200: number;
  answered503: number;
  /** Responses other than 200 and 503, and requests without a response (timeouts). */
  otherOrNone: number;
  /** Deliveries with a 200 response that are not in ig.raw. */
  rawMissing: number;
  /** Extra ig.raw copies of a delivery (one HTTP request stored more than once). */
  rawDuplicates: number;
  /** Deliveries without a 200 response that are in ig.raw all the same. This is allowed, because Meta
   * sends such deliveries again. */
  storedWithout200: number;
  eventsExpected: number;
  eventsFound: number;
  /** ig.events records beyond the first per event_id. */
  duplicates: number;
  /** The same, read by the Java client (read_committed); -1 when Java could not run it. */
  duplicatesJava: number;
  /** Expected items missing from ig.events. */
  lost: number;
  unroutedExpected: number;
  unroutedFound: number;
  commands: number;
  /** Commands with zero or several results in ig.outbound.results. */
  commandsWithoutOneResult: number;
  ambiguous: number;
  /** Commands that the simulator delivered as a message more than once. */
  sendsDuplicated: number;
  /** Results that contradict the simulator: `sent` without a delivery, `failed` with one. */
  resultMismatches: number;
  /** Service exits the harness did not cause (each was restarted). */
  unplannedExits: number;
  seconds: number;
}

export function emptyFigures(scenario: string): Figures {
  return {
    scenario,
    sent: 0,
    ok200: 0,
    answered503: 0,
    otherOrNone: 0,
    rawMissing: 0,
    rawDuplicates: 0,
    storedWithout200: 0,
    eventsExpected: 0,
    eventsFound: 0,
    duplicates: 0,
    duplicatesJava: -1,
    lost: 0,
    unroutedExpected: 0,
    unroutedFound: 0,
    commands: 0,
    commandsWithoutOneResult: 0,
    ambiguous: 0,
    sendsDuplicated: 0,
    resultMismatches: 0,
    unplannedExits: 0,
    seconds: 0,
  };
}

export function readLoadFile(file: string): LoadRecord[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as LoadRecord);
}

/** Delivery id of a load item's mid (`<delivery id>.<item>`). */
function deliveryOf(mid: unknown): string | undefined {
  if (typeof mid !== 'string') return undefined;
  const dot = mid.lastIndexOf('.');
  return dot > 0 ? mid.slice(0, dot) : undefined;
}

interface EntryShape {
  messaging?: Array<{ message?: { mid?: unknown } }>;
}

function midsOfEntry(entry: EntryShape | undefined): string[] {
  return (entry?.messaging ?? [])
    .map((item) => item.message?.mid)
    .filter((mid): mid is string => typeof mid === 'string');
}

function parse(record: TopicRecord): unknown {
  try {
    return JSON.parse((record.value ?? Buffer.alloc(0)).toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Details kept for the report when a check fails. */
export interface Evidence {
  rawMissing: string[];
  rawDuplicated: string[];
  lostMids: string[];
  duplicatedEventIds: string[];
}

/**
 * Checks the webhook side of a scenario: each delivery answered 200 is in ig.raw exactly once,
 * and each routable item of every stored delivery is in ig.events exactly once by event_id
 * (read_committed), and each unknown-account entry is in ig.events.unrouted.
 */
export async function checkDeliveries(
  kafka: Kafka,
  brokers: string,
  topics: Record<TopicKey, string>,
  load: LoadRecord[],
  figures: Figures,
): Promise<Evidence> {
  const requests = load.filter((record) => record.status !== -1);
  figures.sent = requests.length;
  figures.ok200 = requests.filter((record) => record.status === 200).length;
  figures.answered503 = requests.filter((record) => record.status === 503).length;
  figures.otherOrNone = figures.sent - figures.ok200 - figures.answered503;

  const rawCopies = new Map<string, number>();
  for (const record of await readTopicToEnd(kafka, topics.raw)) {
    const body = parse(record) as { entry?: EntryShape[] } | undefined;
    const ids = new Set((body?.entry ?? []).flatMap(midsOfEntry).map(deliveryOf));
    for (const id of ids) if (id) rawCopies.set(id, (rawCopies.get(id) ?? 0) + 1);
  }
  const evidence: Evidence = {
    rawMissing: [],
    rawDuplicated: [],
    lostMids: [],
    duplicatedEventIds: [],
  };
  const expectedMids = new Set<string>();
  const byId = new Map(load.map((record) => [record.id, record]));
  for (const record of requests) {
    const copies = rawCopies.get(record.id) ?? 0;
    if (record.status === 200 && copies === 0) evidence.rawMissing.push(record.id);
    if (record.status !== 200 && copies > 0) figures.storedWithout200 += 1;
    if (copies > 1) evidence.rawDuplicated.push(record.id);
    figures.rawDuplicates += Math.max(0, copies - 1);
    if (record.status === 200 || copies > 0) {
      for (const mid of record.routable) expectedMids.add(mid);
      figures.unroutedExpected += record.unrouted;
    }
  }
  figures.rawMissing = evidence.rawMissing.length;
  figures.eventsExpected = expectedMids.size;

  const perEventId = new Map<string, number>();
  const sources = new Map<string, string[]>();
  const foundMids = new Set<string>();
  for (const record of await readTopicToEnd(kafka, topics.events)) {
    const event = parse(record) as
      | { event_id?: string; payload?: { mid?: unknown }; raw?: { message?: { mid?: unknown } } }
      | undefined;
    const eventId = event?.event_id ?? `offset:${record.partition}:${record.offset}`;
    perEventId.set(eventId, (perEventId.get(eventId) ?? 0) + 1);
    const source = (event as { source?: { partition?: number; offset?: string } } | undefined)
      ?.source;
    const where = `${source?.partition}:${source?.offset} -> ${record.partition}:${record.offset}`;
    sources.set(eventId, [...(sources.get(eventId) ?? []), where]);
    const mid = event?.payload?.mid ?? event?.raw?.message?.mid;
    if (typeof mid === 'string') foundMids.add(mid);
  }
  for (const [eventId, count] of perEventId) {
    if (count > 1) {
      figures.duplicates += count - 1;
      evidence.duplicatedEventIds.push(
        `${eventId} (ig.raw -> ig.events: ${(sources.get(eventId) ?? []).join(', ')})`,
      );
    }
  }
  for (const mid of expectedMids) {
    if (foundMids.has(mid)) figures.eventsFound += 1;
    else evidence.lostMids.push(mid);
  }
  figures.lost = evidence.lostMids.length;

  const javaCounts = readEventIdsWithJava(brokers, topics.events);
  if (javaCounts) {
    figures.duplicatesJava = 0;
    for (const count of javaCounts.values()) figures.duplicatesJava += Math.max(0, count - 1);
  }

  const unroutedSeen = new Set<string>();
  for (const record of await readTopicToEnd(kafka, topics.unrouted)) {
    const value = parse(record) as { entry?: EntryShape } | undefined;
    const mids = midsOfEntry(value?.entry);
    const id = deliveryOf(mids[0]);
    if (id && byId.has(id)) unroutedSeen.add(mids.join(','));
  }
  figures.unroutedFound = unroutedSeen.size;
  return evidence;
}

/** A Send API request as the simulator's `/_sim/requests` lists it. */
interface SimRequest {
  command_id: string | null;
  status: number | null;
  message_id: string | null;
  dropped: boolean;
}

/**
 * Checks the send side: every command has exactly one result, and no command reached the
 * simulator as a sent message twice.
 */
export async function checkSends(
  kafka: Kafka,
  topics: Record<TopicKey, string>,
  simulatorUrl: string,
  commandIds: string[],
  figures: Figures,
): Promise<{
  withoutOneResult: Array<[string, number]>;
  duplicatedSends: string[];
  mismatches: SendMismatches;
  /** Ambiguous commands of which the simulator received no request at all. */
  ambiguousNeverSeen: number;
}> {
  figures.commands = commandIds.length;
  const results = new Map<string, string[]>();
  for (const record of await readTopicToEnd(kafka, topics.outboundResults)) {
    const result = parse(record) as { command_id?: string | null; status?: string } | undefined;
    if (!result?.command_id) continue;
    const list = results.get(result.command_id) ?? [];
    list.push(result.status ?? 'unknown');
    results.set(result.command_id, list);
  }
  const withoutOneResult: Array<[string, number]> = [];
  for (const id of commandIds) {
    const list = results.get(id) ?? [];
    if (list.length !== 1) withoutOneResult.push([id, list.length]);
    if (list.includes('ambiguous')) figures.ambiguous += 1;
  }
  figures.commandsWithoutOneResult = withoutOneResult.length;

  const response = await fetch(`${simulatorUrl}/_sim/requests`);
  const { requests } = (await response.json()) as { requests: SimRequest[] };
  const sentPerCommand = new Map<string, number>();
  for (const request of requests) {
    if (!request.command_id || request.status !== 200 || request.message_id === null) continue;
    sentPerCommand.set(request.command_id, (sentPerCommand.get(request.command_id) ?? 0) + 1);
  }
  const wanted = new Set(commandIds);
  const duplicatedSends = [...sentPerCommand]
    .filter(([id, count]) => wanted.has(id) && count > 1)
    .map(([id]) => id);
  figures.sendsDuplicated = duplicatedSends.length;

  // Compares each command's result with what the simulator saw: `sent` needs a delivered
  // message, `failed` must not have one, and `ambiguous` may or may not.
  const seen = new Set(requests.map((request) => request.command_id));
  const mismatches: SendMismatches = { sentWithoutDelivery: [], failedButDelivered: [] };
  let ambiguousNeverSeen = 0;
  for (const id of commandIds) {
    const status = results.get(id)?.[0];
    const delivered = (sentPerCommand.get(id) ?? 0) > 0;
    if (status === 'sent' && !delivered) mismatches.sentWithoutDelivery.push(id);
    if (status === 'failed' && delivered) mismatches.failedButDelivered.push(id);
    if (status === 'ambiguous' && !seen.has(id)) ambiguousNeverSeen += 1;
  }
  return { withoutOneResult, duplicatedSends, mismatches, ambiguousNeverSeen };
}

/** Commands whose result contradicts the simulator's request log. */
export interface SendMismatches {
  sentWithoutDelivery: string[];
  failedButDelivered: string[];
}

const columns: Array<[keyof Figures, string]> = [
  ['scenario', 'scenario'],
  ['sent', 'sent'],
  ['ok200', '200'],
  ['answered503', '503'],
  ['otherOrNone', 'other'],
  ['rawMissing', 'raw missing'],
  ['rawDuplicates', 'raw dup'],
  ['storedWithout200', 'stored w/o 200'],
  ['eventsExpected', 'events exp'],
  ['eventsFound', 'events found'],
  ['duplicates', 'dup'],
  ['duplicatesJava', 'dup (java)'],
  ['lost', 'lost'],
  ['unroutedExpected', 'unrouted exp'],
  ['unroutedFound', 'unrouted found'],
  ['commands', 'commands'],
  ['commandsWithoutOneResult', 'results != 1'],
  ['ambiguous', 'ambiguous'],
  ['sendsDuplicated', 'sends dup'],
  ['resultMismatches', 'wrong result'],
  ['unplannedExits', 'crashes'],
  ['seconds', 's'],
];

/** Renders the figures as a fixed-width table. */
export function figuresTable(rows: Figures[]): string {
  const cells = [
    columns.map(([, title]) => title),
    ...rows.map((row) => columns.map(([key]) => String(row[key]))),
  ];
  const widths = columns.map((_, index) =>
    Math.max(...cells.map((line) => line[index]?.length ?? 0)),
  );
  return cells
    .map((line) => line.map((cell, index) => cell.padStart(widths[index] ?? 0)).join(' | '))
    .join('\n');
}

const javaReader = fileURLToPath(new URL('./CommittedReader.java', import.meta.url));

/**
 * Reads a topic with the Java client (CommittedReader.java, read_committed) and counts records
 * per event_id: a second reader, so a duplicate seen by kafkajs alone points at the reader.
 * Returns undefined when Java cannot compile and run the source file (a JRE without javac).
 */
export function readEventIdsWithJava(
  brokers: string,
  topic: string,
): Map<string, number> | undefined {
  const result = spawnSync('java', ['-cp', `${kafkaLibDir()}/*`, javaReader, brokers, topic], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    timeout: 180_000,
  });
  if (result.status !== 0) return undefined;
  const counts = new Map<string, number>();
  for (const line of result.stdout.split('\n')) {
    const eventId = line.split('\t')[2];
    if (!eventId) continue;
    counts.set(eventId, (counts.get(eventId) ?? 0) + 1);
  }
  return counts;
}
