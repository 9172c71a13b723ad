import {
  createIdempotentProducer,
  createKmsClient,
  type Database,
  encryptedTokenColumns,
  loadConfig,
  type SendCommand,
  type SendResult,
  sendResultSchema,
  TokenCrypto,
} from '@ig-router/core';
import {
  type ConsumedRecord,
  type GraphSimulator,
  readTopic,
  serviceEnv,
  testEnv,
  uniqueId,
} from '@ig-router/testkit';
import type { IHeaders, Kafka, Producer } from 'kafkajs';
import type { Kysely } from 'kysely';
import { type SenderConfig, senderConfigSchema } from '../src/config.js';
import { PartitionMap } from '../src/partitions.js';

export interface SeededAccount {
  ig_business_id: string;
  client_id: string;
  page_id: string;
  token: string;
}

export function tokenCrypto(): TokenCrypto {
  const env = testEnv();
  return new TokenCrypto(createKmsClient(env), env.KMS_KEY_ID);
}

/**
 * Inserts a client and an account whose token is encrypted with KMS, and registers the same
 * account and token with the Graph simulator.
 */
export async function seedAccount(
  db: Kysely<Database>,
  crypto: TokenCrypto,
  simulator: GraphSimulator | undefined,
  input: { ig_business_id: string; token?: string; active?: boolean; clientName?: string },
): Promise<SeededAccount> {
  const token = input.token ?? `EAAGtest${uniqueId('token').replace(/-/g, '')}SECRET`;
  const clientName = input.clientName ?? `client-${input.ig_business_id}`;
  const existing = await db
    .selectFrom('clients')
    .select('client_id')
    .where('name', '=', clientName)
    .executeTakeFirst();
  const client =
    existing ??
    (await db
      .insertInto('clients')
      .values({ name: clientName, api_key_hash: uniqueId('hash'), api_key_prefix: 'igr_test' })
      .returning('client_id')
      .executeTakeFirstOrThrow());
  const sealed = await crypto.encrypt(
    { ig_business_id: input.ig_business_id, client_id: client.client_id },
    token,
  );
  const pageId = `9${input.ig_business_id.slice(1)}`;
  await db
    .insertInto('ig_accounts')
    .values({
      ig_business_id: input.ig_business_id,
      client_id: client.client_id,
      username: `account_${input.ig_business_id.slice(-6)}`,
      page_id: pageId,
      active: input.active ?? true,
      ...encryptedTokenColumns(sealed),
    })
    .execute();
  simulator?.registerAccount({
    ig_business_id: input.ig_business_id,
    page_id: pageId,
    username: `account_${input.ig_business_id.slice(-6)}`,
    token,
  });
  return {
    ig_business_id: input.ig_business_id,
    client_id: client.client_id,
    page_id: pageId,
    token,
  };
}

/** Replaces an account's token in the database and in the simulator. */
export async function replaceToken(
  db: Kysely<Database>,
  crypto: TokenCrypto,
  simulator: GraphSimulator,
  account: SeededAccount,
): Promise<SeededAccount> {
  const token = `EAAGnew${uniqueId('token').replace(/-/g, '')}SECRET`;
  const sealed = await crypto.encrypt(account, token);
  simulator.registerAccount({
    ig_business_id: account.ig_business_id,
    page_id: account.page_id,
    username: `account_${account.ig_business_id.slice(-6)}`,
    token,
  });
  await db
    .updateTable('ig_accounts')
    .set({ ...encryptedTokenColumns(sealed), updated_at: new Date() })
    .where('ig_business_id', '=', account.ig_business_id)
    .execute();
  return { ...account, token };
}

/**
 * Returns `count` distinct account ids that the murmur2 partitioner puts on the same
 * partition of a topic with `partitions` partitions.
 */
export function accountsOnOnePartition(count: number, partitions: number, seed: number): string[] {
  const map = new PartitionMap(partitions);
  const byPartition = new Map<number, string[]>();
  for (let n = 0; ; n += 1) {
    const id = `178414${String(seed).padStart(5, '0')}${String(n).padStart(6, '0')}`;
    const partition = map.partitionOf(id);
    const ids = byPartition.get(partition) ?? [];
    ids.push(id);
    byPartition.set(partition, ids);
    if (ids.length === count) return ids;
  }
}

export function partitionOf(igBusinessId: string, partitions: number): number {
  return new PartitionMap(partitions).partitionOf(igBusinessId);
}

/** Sender configuration for a test: its own consumer group, no metrics server, short waits. */
export function senderTestConfig(options: {
  prefix: string;
  databaseUrl: string;
  graphUrl: string;
  extra?: Record<string, string>;
}): SenderConfig {
  return loadConfig(senderConfigSchema, senderTestEnv(options));
}

export function senderTestEnv(options: {
  prefix: string;
  databaseUrl: string;
  graphUrl: string;
  extra?: Record<string, string>;
}): Record<string, string> {
  return serviceEnv({
    prefix: options.prefix,
    databaseUrl: options.databaseUrl,
    extra: {
      GRAPH_API_URL: options.graphUrl,
      SENDER_GROUP_ID: uniqueId('sender'),
      METRICS_PORT: '0',
      LOG_LEVEL: 'debug',
      RETRY_BASE_MS: '50',
      RETRY_MAX_MS: '200',
      THROTTLE_BACKOFF_MS: '300',
      CIRCUIT_COOLDOWN_MS: '500',
      CIRCUIT_MAX_COOLDOWN_MS: '2000',
      PARKED_SWEEP_INTERVAL_MS: '200',
      CONSUMER_SESSION_TIMEOUT_MS: '10000',
      GRAPH_TIMEOUT_MS: '3000',
      ...options.extra,
    },
  });
}

let commandSeq = 0;

/** Builds a valid text command; `overrides` replace top-level fields. */
export function textCommand(
  igBusinessId: string,
  recipientId: string,
  overrides: Partial<SendCommand> = {},
): SendCommand {
  commandSeq += 1;
  return {
    command_id: `cmd-${uniqueId('c')}-${commandSeq}`,
    ig_business_id: igBusinessId,
    recipient: { id: recipientId },
    message: { text: `hello ${commandSeq}` },
    created_at: new Date().toISOString(),
    ...overrides,
  };
}

const producers = new Map<Kafka, Promise<Producer>>();

/** Produces commands to `ig.outbound`, keyed by `ig_business_id`, in the given order. */
export async function produceCommands(
  kafka: Kafka,
  topic: string,
  commands: Array<SendCommand | { key: string; value: string; headers?: IHeaders }>,
): Promise<void> {
  let producer = producers.get(kafka);
  if (!producer) {
    const created = createIdempotentProducer(kafka);
    producer = created.connect().then(() => created);
    producers.set(kafka, producer);
  }
  await (await producer).send({
    topic,
    acks: -1,
    messages: commands.map((command) =>
      'value' in command && typeof command.value === 'string'
        ? command
        : { key: (command as SendCommand).ig_business_id, value: JSON.stringify(command) },
    ),
  });
}

/** Disconnects the producers that produceCommands opened. */
export async function closeProducers(): Promise<void> {
  for (const producer of producers.values()) await (await producer).disconnect();
  producers.clear();
}

export interface ResultRecord {
  record: ConsumedRecord;
  result: SendResult;
}

/** Reads `ig.outbound.results` until `until` holds or the deadline passes. */
export async function readResults(
  kafka: Kafka,
  topic: string,
  until: (results: ResultRecord[]) => boolean,
  timeoutMs = 30_000,
): Promise<ResultRecord[]> {
  const parse = (records: ConsumedRecord[]) =>
    records.map((record) => ({
      record,
      result: JSON.parse(record.value?.toString('utf8') ?? 'null') as SendResult,
    }));
  const records = await readTopic(kafka, topic, {
    timeoutMs,
    until: (read) => until(parse(read)),
  });
  return parse(records);
}

/** Waits for one result per command id; returns them by command id. */
export async function resultsFor(
  kafka: Kafka,
  topic: string,
  commandIds: string[],
  timeoutMs = 30_000,
): Promise<Map<string, SendResult>> {
  const wanted = new Set(commandIds);
  const results = await readResults(
    kafka,
    topic,
    (read) =>
      new Set(read.map((r) => r.result.command_id).filter((id) => wanted.has(id ?? ''))).size ===
      wanted.size,
    timeoutMs,
  );
  const byId = new Map<string, SendResult>();
  for (const { result } of results) {
    if (result.command_id && wanted.has(result.command_id)) byId.set(result.command_id, result);
  }
  return byId;
}

/** Validates a result against the published schema and returns the issues, if any. */
export function resultSchemaIssues(result: unknown): string[] {
  const parsed = sendResultSchema.safeParse(result);
  return parsed.success
    ? []
    : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}
