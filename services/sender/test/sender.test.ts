import type { SendCommand } from '@ig-router/core';
import {
  type CapturedLogger,
  captureLogger,
  createTestDatabase,
  createTestTopics,
  eventually,
  type GraphSimulator,
  readTopic,
  startGraphSimulator,
  type TestDatabase,
  type TestTopics,
  tokenFingerprint,
} from '@ig-router/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { circuitStateSchema } from '../src/circuit.js';
import { type RunningSender, startSender } from '../src/service.js';
import {
  accountsOnOnePartition,
  closeProducers,
  produceCommands,
  replaceToken,
  resultSchemaIssues,
  resultsFor,
  type SeededAccount,
  seedAccount,
  senderTestConfig,
  textCommand,
  tokenCrypto,
} from './helpers.js';

const PARTITIONS = 3;

describe('sender against Kafka, Postgres, KMS and the Graph simulator', () => {
  let topics: TestTopics;
  let database: TestDatabase;
  let simulator: GraphSimulator;
  let sender: RunningSender;
  let captured: CapturedLogger;
  const crypto = tokenCrypto();
  const tokens: string[] = [];
  let idSeed = 100;

  /** Seeds `count` accounts on one partition, remembering their tokens for the secret scan. */
  async function accounts(count: number): Promise<SeededAccount[]> {
    idSeed += 1;
    const ids = accountsOnOnePartition(count, PARTITIONS, idSeed);
    const seeded: SeededAccount[] = [];
    for (const id of ids) {
      const account = await seedAccount(database.db, crypto, simulator, { ig_business_id: id });
      tokens.push(account.token);
      seeded.push(account);
    }
    return seeded;
  }

  async function send(commands: Array<SendCommand | { key: string; value: string }>) {
    await produceCommands(topics.kafka, topics.names.outbound, commands);
  }

  function requestsFor(igBusinessId: string) {
    return simulator.requests({ ig_business_id: igBusinessId });
  }

  beforeAll(async () => {
    [topics, database, simulator] = await Promise.all([
      createTestTopics('sender', PARTITIONS),
      createTestDatabase('sender'),
      startGraphSimulator({ latencyMs: 5 }),
    ]);
    captured = captureLogger('sender');
    sender = await startSender(
      senderTestConfig({
        prefix: topics.prefix,
        databaseUrl: database.url,
        graphUrl: simulator.url,
      }),
      { logger: captured.logger },
    );
  });

  afterAll(async () => {
    await closeProducers();
    await sender?.stop();
    await simulator?.close();
    await database?.drop();
    await topics?.cleanup();
  });

  it('sends a command with its own account token and reports the message_id', async () => {
    const [account, other] = await accounts(2);
    if (!account || !other) throw new Error('accounts missing');
    const command = textCommand(account.ig_business_id, '5550001');

    await send([command]);
    const results = await resultsFor(topics.kafka, topics.names.outboundResults, [
      command.command_id,
    ]);

    const result = results.get(command.command_id);
    const requests = requestsFor(account.ig_business_id);
    expect(requests).toHaveLength(1);
    expect(requests[0]?.command_id).toBe(command.command_id);
    expect(requests[0]?.token_fingerprint).toBe(tokenFingerprint(account.token));
    expect(requests[0]?.token_fingerprint).not.toBe(tokenFingerprint(other.token));
    expect(requests[0]?.body).toEqual({
      recipient: { id: '5550001' },
      message: { text: command.message?.text },
    });
    expect(result?.status).toBe('sent');
    expect(result?.message_id).toBe(requests[0]?.message_id);
    expect(result?.attempts).toBe(1);
    expect(result?.recipient_id).toBe('5550001');
    expect(resultSchemaIssues(result)).toEqual([]);
    expect(simulator.violations()).toEqual([]);

    const row = await database.db
      .selectFrom('sends')
      .selectAll()
      .where('command_id', '=', command.command_id)
      .executeTakeFirstOrThrow();
    expect(row.state).toBe('sent');
    expect(row.message_id).toBe(result?.message_id);
    await eventually('result marked as published', async () => {
      const marked = await database.db
        .selectFrom('sends')
        .select('completed_at')
        .where('command_id', '=', command.command_id)
        .executeTakeFirstOrThrow();
      return marked.completed_at !== null;
    });
  });

  it('sends the commands of one conversation in order', async () => {
    const [account] = await accounts(1);
    if (!account) throw new Error('account missing');
    const commands = Array.from({ length: 8 }, () =>
      textCommand(account.ig_business_id, '5550002'),
    );

    await send(commands);
    const results = await resultsFor(
      topics.kafka,
      topics.names.outboundResults,
      commands.map((command) => command.command_id),
    );

    expect([...results.values()].map((result) => result.status)).toEqual(Array(8).fill('sent'));
    expect(requestsFor(account.ig_business_id).map((request) => request.command_id)).toEqual(
      commands.map((command) => command.command_id),
    );
  });

  it('reports an invalid command as failed with the validation error', async () => {
    const [account] = await accounts(1);
    if (!account) throw new Error('account missing');
    const invalid = {
      ...textCommand(account.ig_business_id, '5550003'),
      message: { text: 'x'.repeat(1001) },
    };
    await send([invalid, { key: account.ig_business_id, value: 'not json' }]);

    const results = await resultsFor(topics.kafka, topics.names.outboundResults, [
      invalid.command_id,
    ]);
    const result = results.get(invalid.command_id);
    expect(result?.status).toBe('failed');
    expect(result?.error).toMatchObject({ code: 'INVALID_COMMAND' });
    expect(JSON.stringify(result?.error)).toContain('message.text');
    expect(resultSchemaIssues(result)).toEqual([]);
    expect(requestsFor(account.ig_business_id)).toEqual([]);
    await eventually('the record that is not JSON reported', () =>
      captured
        .records()
        .some((line) => line.msg === 'invalid send command' && line.command_id === null),
    );
  });

  it('fails commands of unknown and inactive accounts without calling Graph', async () => {
    const [inactive] = await accounts(1);
    if (!inactive) throw new Error('account missing');
    await database.db
      .updateTable('ig_accounts')
      .set({ active: false })
      .where('ig_business_id', '=', inactive.ig_business_id)
      .execute();
    const unknown = textCommand('17849999999999999', '5550004');
    const forInactive = textCommand(inactive.ig_business_id, '5550004');

    await send([unknown, forInactive]);
    const results = await resultsFor(topics.kafka, topics.names.outboundResults, [
      unknown.command_id,
      forInactive.command_id,
    ]);

    expect(results.get(unknown.command_id)?.status).toBe('failed');
    expect(results.get(unknown.command_id)?.error).toMatchObject({ type: 'ACCOUNT_UNKNOWN' });
    expect(results.get(forInactive.command_id)?.status).toBe('failed');
    expect(results.get(forInactive.command_id)?.error).toMatchObject({ type: 'ACCOUNT_INACTIVE' });
    expect(requestsFor(inactive.ig_business_id)).toEqual([]);
    for (const result of results.values()) expect(resultSchemaIssues(result)).toEqual([]);
  });

  it('reports a token copied from another account and sends nothing', async () => {
    const [victim, source] = await accounts(2);
    if (!victim || !source) throw new Error('accounts missing');
    const sourceRow = await database.db
      .selectFrom('ig_accounts')
      .select([
        'token_encrypted_key',
        'token_iv',
        'token_ciphertext',
        'token_auth_tag',
        'token_kms_key_id',
      ])
      .where('ig_business_id', '=', source.ig_business_id)
      .executeTakeFirstOrThrow();
    await database.db
      .updateTable('ig_accounts')
      .set(sourceRow)
      .where('ig_business_id', '=', victim.ig_business_id)
      .execute();
    const command = textCommand(victim.ig_business_id, '5550005');

    await send([command]);
    const results = await resultsFor(topics.kafka, topics.names.outboundResults, [
      command.command_id,
    ]);

    const result = results.get(command.command_id);
    expect(result?.status).toBe('failed');
    expect(result?.error).toMatchObject({
      type: 'TOKEN_CONTEXT_MISMATCH',
      classification: 'token',
    });
    expect(requestsFor(victim.ig_business_id)).toEqual([]);
    expect(requestsFor(source.ig_business_id)).toEqual([]);
    expect(
      captured
        .records()
        .some(
          (line) =>
            line.msg === 'token decryption failed' && line.ig_business_id === victim.ig_business_id,
        ),
    ).toBe(true);
  });

  it('sends a command once when its record is delivered twice', async () => {
    const [account] = await accounts(1);
    if (!account) throw new Error('account missing');
    const command = textCommand(account.ig_business_id, '5550006');

    await send([command, command]);
    await resultsFor(topics.kafka, topics.names.outboundResults, [command.command_id]);
    await send([command]);
    const marker = textCommand(account.ig_business_id, '5550006');
    await send([marker]);
    await resultsFor(topics.kafka, topics.names.outboundResults, [marker.command_id]);

    const results = await readTopic(topics.kafka, topics.names.outboundResults, {
      timeoutMs: 10_000,
      until: (read) =>
        read.some((record) => record.value?.toString('utf8').includes(marker.command_id) === true),
    });
    const forCommand = results.filter((record) =>
      record.value?.toString('utf8').includes(`"command_id":"${command.command_id}"`),
    );
    expect(forCommand).toHaveLength(1);
    expect(
      requestsFor(account.ig_business_id).filter((r) => r.command_id === command.command_id),
    ).toHaveLength(1);
  });

  it('expires a command whose not_after has passed without sending it', async () => {
    const [account] = await accounts(1);
    if (!account) throw new Error('account missing');
    const command = textCommand(account.ig_business_id, '5550007', {
      not_after: new Date(Date.now() - 1_000).toISOString(),
    });

    await send([command]);
    const results = await resultsFor(topics.kafka, topics.names.outboundResults, [
      command.command_id,
    ]);

    expect(results.get(command.command_id)?.status).toBe('expired');
    expect(results.get(command.command_id)?.error).toBeNull();
    expect(requestsFor(account.ig_business_id)).toEqual([]);
  });

  it('fails 551 and 10/2018278 without retrying', async () => {
    const [account] = await accounts(1);
    if (!account) throw new Error('account missing');
    simulator.addFault({
      ig_business_id: account.ig_business_id,
      recipient_id: '5550008',
      code: 551,
    });
    simulator.addFault({
      ig_business_id: account.ig_business_id,
      recipient_id: '5550009',
      code: 10,
      subcode: 2018278,
    });
    const unavailable = textCommand(account.ig_business_id, '5550008');
    const windowClosed = textCommand(account.ig_business_id, '5550009');

    await send([unavailable, windowClosed]);
    const results = await resultsFor(topics.kafka, topics.names.outboundResults, [
      unavailable.command_id,
      windowClosed.command_id,
    ]);

    expect(results.get(unavailable.command_id)).toMatchObject({
      status: 'failed',
      attempts: 1,
      error: { code: 551, classification: 'recipient_permanent' },
    });
    expect(results.get(windowClosed.command_id)).toMatchObject({
      status: 'failed',
      attempts: 1,
      error: { code: 10, subcode: 2018278, classification: 'window_closed' },
    });
    expect(requestsFor(account.ig_business_id)).toHaveLength(2);
    for (const command of [unavailable, windowClosed]) {
      expect(
        captured
          .records()
          .some(
            (line) =>
              line.msg === 'send failed' &&
              line.command_id === command.command_id &&
              line.ig_business_id === account.ig_business_id &&
              typeof line.code === 'number',
          ),
      ).toBe(true);
    }
  });

  it('retries code 2 and then sends', async () => {
    const [account] = await accounts(1);
    if (!account) throw new Error('account missing');
    simulator.addFault({ ig_business_id: account.ig_business_id, code: 2, count: 2 });
    const command = textCommand(account.ig_business_id, '5550010');

    await send([command]);
    const results = await resultsFor(topics.kafka, topics.names.outboundResults, [
      command.command_id,
    ]);

    expect(results.get(command.command_id)).toMatchObject({ status: 'sent', attempts: 3 });
    const requests = requestsFor(account.ig_business_id);
    expect(requests.map((request) => request.error_code)).toEqual([2, 2, null]);
    expect(results.get(command.command_id)?.message_id).toBe(requests[2]?.message_id);
  });

  it('slows an account down after 613 and sends every command later', async () => {
    const [account] = await accounts(1);
    if (!account) throw new Error('account missing');
    simulator.addFault({ ig_business_id: account.ig_business_id, code: 613, count: 1 });
    const commands = Array.from({ length: 5 }, (_, i) =>
      textCommand(account.ig_business_id, '5550011', { message: { text: `throttled ${i}` } }),
    );

    await send(commands);
    const results = await resultsFor(
      topics.kafka,
      topics.names.outboundResults,
      commands.map((command) => command.command_id),
    );

    expect(commands.map((command) => results.get(command.command_id)?.status)).toEqual(
      Array(5).fill('sent'),
    );
    const requests = requestsFor(account.ig_business_id);
    expect(requests[0]?.error_code).toBe(613);
    const sent = requests.filter((request) => request.status === 200).map((r) => r.command_id);
    expect(sent).toEqual(commands.map((command) => command.command_id));
    const circuitRecords = await readTopic(topics.kafka, topics.names.circuit, {
      timeoutMs: 10_000,
      until: (records) =>
        records.some(
          (record) =>
            record.key === account.ig_business_id &&
            record.value?.toString('utf8').includes('"state":"closed"') === true,
        ),
    });
    const states = circuitRecords
      .filter((record) => record.key === account.ig_business_id)
      .map((record) => circuitStateSchema.parse(JSON.parse(record.value?.toString('utf8') ?? '')));
    expect(states.map((state) => `${state.state}:${state.reason}`)).toEqual([
      'open:throttled',
      'half_open:throttled',
      'closed:null',
    ]);
  });

  it('opens the circuit of an account on 190 while another account on the partition keeps sending', async () => {
    const [broken, healthy] = await accounts(2);
    if (!broken || !healthy) throw new Error('accounts missing');
    simulator.addFault({
      ig_business_id: broken.ig_business_id,
      code: 190,
      subcode: 463,
      count: 1,
    });
    // One recipient, so the four commands must also be resumed in their original order.
    const brokenCommands = Array.from({ length: 4 }, (_, i) =>
      textCommand(broken.ig_business_id, '5550100', { message: { text: `parked ${i}` } }),
    );
    const healthyCommands = Array.from({ length: 4 }, (_, i) =>
      textCommand(healthy.ig_business_id, `55502${i}`),
    );
    const interleaved = brokenCommands.flatMap((command, i) => [
      command,
      healthyCommands[i] as SendCommand,
    ]);

    await send([brokenCommands[0] as SendCommand]);
    await eventually('the circuit of the broken account opened', async () => {
      const records = await readTopic(topics.kafka, topics.names.circuit, {
        timeoutMs: 2_000,
        until: (read) => read.some((record) => record.key === broken.ig_business_id),
      });
      return records.some((record) => record.key === broken.ig_business_id);
    });
    await send(interleaved.slice(1));

    const healthyResults = await resultsFor(
      topics.kafka,
      topics.names.outboundResults,
      healthyCommands.map((command) => command.command_id),
    );
    expect([...healthyResults.values()].map((result) => result.status)).toEqual(
      Array(4).fill('sent'),
    );
    const parked = await database.db
      .selectFrom('sends')
      .select(['command_id', 'state'])
      .where('ig_business_id', '=', broken.ig_business_id)
      .execute();
    expect(parked.map((row) => row.state)).toEqual(Array(4).fill('parked'));
    const circuit = await readTopic(topics.kafka, topics.names.circuit, {
      timeoutMs: 2_000,
      until: (read) => read.some((record) => record.key === broken.ig_business_id),
    });
    const state = circuitStateSchema.parse(
      JSON.parse(
        circuit.find((record) => record.key === broken.ig_business_id)?.value?.toString('utf8') ??
          '',
      ),
    );
    expect(state).toMatchObject({ state: 'open', reason: 'auth', retry_at: null });
    expect(requestsFor(broken.ig_business_id)).toHaveLength(1);
    expect(
      captured
        .records()
        .some(
          (line) =>
            line.msg === 'circuit opened; the account needs attention' &&
            line.ig_business_id === broken.ig_business_id,
        ),
    ).toBe(true);

    const renewed = await replaceToken(database.db, crypto, simulator, broken);
    tokens.push(renewed.token);
    const brokenResults = await resultsFor(
      topics.kafka,
      topics.names.outboundResults,
      brokenCommands.map((command) => command.command_id),
    );
    expect(brokenCommands.map((command) => brokenResults.get(command.command_id)?.status)).toEqual(
      Array(4).fill('sent'),
    );
    const resent = requestsFor(broken.ig_business_id).filter((request) => request.status === 200);
    expect(resent.map((request) => request.command_id)).toEqual(
      brokenCommands.map((command) => command.command_id),
    );
    expect(new Set(resent.map((request) => request.token_fingerprint))).toEqual(
      new Set([tokenFingerprint(renewed.token)]),
    );
  });

  it('expires a parked command at its not_after', async () => {
    const [account] = await accounts(1);
    if (!account) throw new Error('account missing');
    simulator.addFault({ ig_business_id: account.ig_business_id, code: 190, count: 1 });
    // One recipient, so the second command waits for the first one's 190.
    const first = textCommand(account.ig_business_id, '5550030');
    const deadline = new Date(Date.now() + 1_500).toISOString();
    const second = textCommand(account.ig_business_id, '5550030', { not_after: deadline });

    await send([first, second]);
    const results = await resultsFor(topics.kafka, topics.names.outboundResults, [
      second.command_id,
    ]);

    expect(results.get(second.command_id)?.status).toBe('expired');
    expect(Date.parse(results.get(second.command_id)?.completed_at ?? '')).toBeGreaterThanOrEqual(
      Date.parse(deadline),
    );
    const rows = await database.db
      .selectFrom('sends')
      .select(['command_id', 'state'])
      .where('ig_business_id', '=', account.ig_business_id)
      .orderBy('command_id')
      .execute();
    expect(Object.fromEntries(rows.map((row) => [row.command_id, row.state]))).toEqual({
      [first.command_id]: 'parked',
      [second.command_id]: 'expired',
    });
  });

  it('writes no token into any log line or result', async () => {
    const results = await readTopic(topics.kafka, topics.names.outboundResults, {
      timeoutMs: 3_000,
      until: (read) => read.length >= 30,
    });
    const circuits = await readTopic(topics.kafka, topics.names.circuit, {
      timeoutMs: 2_000,
      until: (read) => read.length >= 4,
    });
    const text = [
      captured.text(),
      ...results.map((record) => record.value?.toString('utf8') ?? ''),
      ...circuits.map((record) => record.value?.toString('utf8') ?? ''),
    ].join('\n');
    expect(tokens.length).toBeGreaterThan(10);
    expect(results.length).toBeGreaterThan(20);
    for (const token of tokens) expect(text).not.toContain(token);
    expect(text).not.toContain('EAAG');
  });
});
