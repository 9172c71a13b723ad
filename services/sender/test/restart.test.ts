import {
  captureLogger,
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
import { type CircuitState, circuitStateSchema } from '../src/circuit.js';
import type { SenderConfig } from '../src/config.js';
import { type RunningSender, startSender } from '../src/service.js';
import {
  accountsOnOnePartition,
  closeProducers,
  produceCommands,
  resultsFor,
  type SeededAccount,
  seedAccount,
  senderTestConfig,
  textCommand,
  tokenCrypto,
} from './helpers.js';

const PARTITIONS = 3;

describe('sender restart', () => {
  let topics: TestTopics;
  let database: TestDatabase;
  let simulator: GraphSimulator;
  let config: SenderConfig;
  let broken: SeededAccount;
  let healthy: SeededAccount;
  const running: RunningSender[] = [];
  const crypto = tokenCrypto();

  async function start(): Promise<RunningSender> {
    const sender = await startSender(config, { logger: captureLogger('sender').logger });
    running.push(sender);
    return sender;
  }

  async function parkedState(commandId: string): Promise<string | undefined> {
    const row = await database.db
      .selectFrom('sends')
      .select('state')
      .where('command_id', '=', commandId)
      .executeTakeFirst();
    return row?.state;
  }

  beforeAll(async () => {
    [topics, database, simulator] = await Promise.all([
      createTestTopics('sender-restart', PARTITIONS),
      createTestDatabase('sender_restart'),
      startGraphSimulator(),
    ]);
    config = senderTestConfig({
      prefix: topics.prefix,
      databaseUrl: database.url,
      graphUrl: simulator.url,
    });
    const [brokenId, healthyId] = accountsOnOnePartition(2, PARTITIONS, 7);
    broken = await seedAccount(database.db, crypto, simulator, { ig_business_id: brokenId ?? '' });
    healthy = await seedAccount(database.db, crypto, simulator, {
      ig_business_id: healthyId ?? '',
    });
  });

  afterAll(async () => {
    await closeProducers();
    for (const sender of running) await sender.stop();
    await simulator?.close();
    await database?.drop();
    await topics?.cleanup();
  });

  it('resumes with the circuit states it had, read from ig.circuit', async () => {
    simulator.addFault({ ig_business_id: broken.ig_business_id, code: 190, count: 1 });
    const first = await start();
    const opening = textCommand(broken.ig_business_id, '6660001');
    await produceCommands(topics.kafka, topics.names.outbound, [opening]);
    await eventually(
      'the first command parked',
      async () => (await parkedState(opening.command_id)) === 'parked',
    );
    await first.stop();

    await start();
    const afterRestart = textCommand(broken.ig_business_id, '6660002');
    const probe = textCommand(healthy.ig_business_id, '6660003');
    await produceCommands(topics.kafka, topics.names.outbound, [afterRestart, probe]);
    const results = await resultsFor(topics.kafka, topics.names.outboundResults, [
      probe.command_id,
    ]);

    expect(results.get(probe.command_id)?.status).toBe('sent');
    await eventually(
      'the command after the restart parked',
      async () => (await parkedState(afterRestart.command_id)) === 'parked',
    );
    // The restarted sender knew the circuit was open, so it never called Graph for the account.
    expect(simulator.requests({ ig_business_id: broken.ig_business_id })).toHaveLength(1);
  });

  it('closes a circuit that an operator reset in ig.circuit and sends the parked commands', async () => {
    const records = await readTopic(topics.kafka, topics.names.circuit, {
      timeoutMs: 5_000,
      until: (read) => read.some((record) => record.key === broken.ig_business_id),
    });
    const open = circuitStateSchema.parse(
      JSON.parse(
        records.find((record) => record.key === broken.ig_business_id)?.value?.toString('utf8') ??
          '',
      ),
    );
    expect(open.state).toBe('open');
    expect(open.reason).toBe('auth');

    const reset: CircuitState = {
      ig_business_id: broken.ig_business_id,
      state: 'closed',
      reason: null,
      opened_at: null,
      retry_at: null,
      failures: 0,
      cooldown_ms: 0,
      updated_at: new Date().toISOString(),
    };
    await produceCommands(topics.kafka, topics.names.circuit, [
      { key: broken.ig_business_id, value: JSON.stringify(reset) },
    ]);

    const parked = await database.db
      .selectFrom('sends')
      .select('command_id')
      .where('ig_business_id', '=', broken.ig_business_id)
      .execute();
    const results = await resultsFor(
      topics.kafka,
      topics.names.outboundResults,
      parked.map((row) => row.command_id),
    );
    expect([...results.values()].map((result) => result.status)).toEqual(['sent', 'sent']);
  });
});
