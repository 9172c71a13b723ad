import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandExists } from '../../infra/local/src/processes.js';
import { FaultHarness } from './support/harness.js';
import {
  brokerStop,
  FULL,
  postgresRestart,
  rebalance,
  routerKills,
  runScenario,
  SHORT,
  senderKills,
} from './support/scenarios.js';
import { type Figures, figuresTable } from './support/verify.js';

// The fault suite: the real gateway, router and sender as processes against a private Kafka
// broker and PostgreSQL server, under signed webhook load from a driver process. `npm test`
// runs the short form (one router kill, one short broker stop); `npm run test:faults` sets
// IGR_FAULTS=full and runs every scenario at full size.
const full = process.env.IGR_FAULTS === 'full';
const size = full ? FULL : SHORT;
const seed = Number(process.env.IGR_FAULTS_SEED ?? Math.floor(Math.random() * 1_000_000));

// The private broker runs on Java, like the local stack's; without Java the suite is skipped.
const javaFound = commandExists('java', ['-version']);

describe.skipIf(!javaFound)(`fault suite (${full ? 'full' : 'short'}, seed ${seed})`, () => {
  let harness: FaultHarness | undefined;
  const rows: Figures[] = [];

  beforeAll(async () => {
    harness = await FaultHarness.start((line) => process.stdout.write(`[faults] ${line}\n`));
  }, 240_000);

  afterAll(async () => {
    if (rows.length > 0) {
      process.stdout.write(`\nfault suite figures (seed ${seed}):\n${figuresTable(rows)}\n\n`);
    }
    await harness?.stop();
  }, 120_000);

  /**
   * Asserts the guarantees on a scenario's figures. `restartsAllowed` accepts service exits:
   * the router exits 1 by design when kafkajs stops a consumer for good, which a long broker
   * outage can cause, and the harness restarts it as a process manager would.
   */
  function expectNothingLost(figures: Figures, restartsAllowed = false): void {
    rows.push(figures);
    process.stdout.write(`${figuresTable([figures])}\n`);
    expect(figures.rawMissing, 'deliveries answered 200 missing from ig.raw').toBe(0);
    expect(figures.rawDuplicates, 'deliveries stored twice in ig.raw').toBe(0);
    expect(figures.duplicates, 'event_ids duplicated in ig.events').toBe(0);
    expect(figures.duplicatesJava, 'duplicates seen by the Java reader').toBeLessThanOrEqual(0);
    expect(figures.lost, 'routable items missing from ig.events').toBe(0);
    expect(figures.eventsFound).toBe(figures.eventsExpected);
    expect(figures.unroutedFound).toBe(figures.unroutedExpected);
    expect(figures.sendsDuplicated, 'commands sent twice').toBe(0);
    expect(figures.commandsWithoutOneResult, 'commands without exactly one result').toBe(0);
    expect(figures.resultMismatches, 'results that contradict the simulator').toBe(0);
    if (!restartsAllowed) {
      expect(figures.unplannedExits, 'services that exited by themselves').toBe(0);
    }
  }

  it('router SIGKILL under load', async () => {
    const figures = await runScenario(
      harness as FaultHarness,
      'router-kill',
      size,
      seed,
      routerKills,
    );
    expect(figures.ok200).toBeGreaterThan(0);
    expectNothingLost(figures);
  }, 300_000);

  it('Kafka broker stop under load', async () => {
    const figures = await runScenario(
      harness as FaultHarness,
      'broker-stop',
      size,
      seed + 1,
      brokerStop,
    );
    expect(figures.ok200).toBeGreaterThan(0);
    expectNothingLost(figures, true);
  }, 300_000);

  it.runIf(full)(
    'PostgreSQL restart under load',
    async () => {
      const figures = await runScenario(
        harness as FaultHarness,
        'postgres-restart',
        size,
        seed + 2,
        postgresRestart,
      );
      expect(figures.ok200).toBeGreaterThan(0);
      expectNothingLost(figures);
    },
    300_000,
  );

  it.runIf(full)(
    'second router joins and leaves',
    async () => {
      const figures = await runScenario(
        harness as FaultHarness,
        'rebalance',
        size,
        seed + 3,
        rebalance,
      );
      expect(figures.ok200).toBeGreaterThan(0);
      expectNothingLost(figures);
    },
    300_000,
  );

  it.runIf(full)(
    'sender SIGKILL during sends',
    async () => {
      const figures = await runScenario(
        harness as FaultHarness,
        'sender-kill',
        size,
        seed + 4,
        senderKills,
      );
      expect(figures.commands).toBe(size.commands);
      expectNothingLost(figures);
    },
    300_000,
  );
});
