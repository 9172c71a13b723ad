import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import {
  createDatabase,
  createIdempotentProducer,
  createKmsClient,
  encryptedTokenColumns,
  type SendCommand,
  TokenCrypto,
  type TopicKey,
} from '@ig-router/core';
import { testEnv } from '@ig-router/testkit';
import type { Kafka } from 'kafkajs';
import { freePort } from '../../../infra/local/src/processes.js';
import type { LoadSettings } from './load-driver.js';
import { PrivateStack, sleep } from './private-stack.js';
import { waitForGroupCaughtUp } from './read-topic.js';
import { killAllServices, ServiceProcess } from './services.js';
import {
  checkDeliveries,
  checkSends,
  type Evidence,
  emptyFigures,
  type Figures,
  readLoadFile,
} from './verify.js';

export interface TestAccount {
  ig_business_id: string;
  client_id: string;
  page_id: string;
}

/** Time within a scenario, for the lines it prints. */
function stamp(startedAt: number): string {
  return `${((Date.now() - startedAt) / 1000).toFixed(1)}s`;
}

/**
 * The fault suite's world: a private Kafka and PostgreSQL, a Graph API simulator process and
 * three registered accounts. Each scenario gets its own topics (a fresh prefix) and consumer
 * groups, and its own gateway, router and sender processes.
 */
export class FaultHarness {
  readonly appSecret = randomBytes(16).toString('hex');
  readonly accounts: TestAccount[] = [];
  readonly unknownAccount = '17841499999999901';
  simulator?: ServiceProcess;
  simulatorUrl = '';
  private scenarioCount = 0;

  private constructor(readonly stack: PrivateStack) {}

  static async start(log: (line: string) => void): Promise<FaultHarness> {
    const stack = await PrivateStack.start(log);
    const harness = new FaultHarness(stack);
    try {
      await harness.startSimulator();
      await harness.registerAccounts(3);
    } catch (err) {
      await harness.stop();
      throw err;
    }
    return harness;
  }

  private async startSimulator(): Promise<void> {
    const port = await freePort();
    this.simulatorUrl = `http://127.0.0.1:${port}`;
    this.simulator = new ServiceProcess(
      'graph-sim',
      'libs/testkit/src/graph-sim/main.ts',
      {
        ...this.stack.baseEnv(),
        GRAPH_SIM_PORT: String(port),
        GRAPH_SIM_RATE_LIMIT: '10000',
        // Every Send API response comes after 150 ms, like a slow Graph API.
        GRAPH_SIM_LATENCY_MS: '150',
        LOG_LEVEL: 'warn',
      },
      join(this.stack.baseDir, 'graph-sim.log'),
      { readyUrl: `${this.simulatorUrl}/_sim/accounts` },
    );
    this.simulator.start();
    await this.simulator.ready();
  }

  /** Registers clients and accounts with KMS-encrypted tokens, in PostgreSQL and the simulator. */
  private async registerAccounts(count: number): Promise<void> {
    const env = testEnv();
    const crypto = new TokenCrypto(createKmsClient(env), env.KMS_KEY_ID);
    const database = createDatabase({ DATABASE_URL: this.stack.databaseUrl }, 2);
    try {
      for (let index = 1; index <= count; index += 1) {
        const igBusinessId = `178414000${String(index).padStart(8, '0')}`;
        const pageId = `10${String(index).padStart(13, '0')}`;
        const token = `EAAGfaults${randomBytes(12).toString('hex')}`;
        const client = await database.db
          .insertInto('clients')
          .values({
            name: `faults-client-${index}`,
            api_key_hash: randomBytes(16).toString('hex'),
            api_key_prefix: 'igr_flt',
          })
          .returning('client_id')
          .executeTakeFirstOrThrow();
        const sealed = await crypto.encrypt(
          { ig_business_id: igBusinessId, client_id: client.client_id },
          token,
        );
        await database.db
          .insertInto('ig_accounts')
          .values({
            ig_business_id: igBusinessId,
            client_id: client.client_id,
            username: `faults_${index}`,
            page_id: pageId,
            active: true,
            ...encryptedTokenColumns(sealed),
          })
          .execute();
        const response = await fetch(`${this.simulatorUrl}/_sim/accounts`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            ig_business_id: igBusinessId,
            page_id: pageId,
            username: `faults_${index}`,
            token,
          }),
        });
        if (response.status !== 201) {
          throw new Error(`the simulator rejected an account with status ${response.status}`);
        }
        this.accounts.push({
          ig_business_id: igBusinessId,
          client_id: client.client_id,
          page_id: pageId,
        });
      }
    } finally {
      await database.close();
    }
  }

  /** Starts a gateway, a router and a sender on fresh topics for one scenario. */
  async pipeline(name: string): Promise<Pipeline> {
    this.scenarioCount += 1;
    const label = `${this.scenarioCount}-${name}`;
    const prefix = `f${this.scenarioCount}.`;
    const topics = await this.stack.createTopics(prefix);
    const pipeline = new Pipeline(this, label, prefix, topics);
    await pipeline.start();
    return pipeline;
  }

  async stop(): Promise<void> {
    await this.simulator?.close().catch(() => {});
    await killAllServices();
    await this.stack.stop();
  }
}

/** The services of one scenario, with its load, commands and checks. */
export class Pipeline {
  readonly routers: ServiceProcess[] = [];
  gateway?: ServiceProcess;
  sender?: ServiceProcess;
  readonly routerGroup: string;
  readonly commandIds: string[] = [];
  readonly startedAt = Date.now();
  readonly kafka: Kafka;
  private gatewayUrl = '';
  private readonly services: ServiceProcess[] = [];

  constructor(
    readonly harness: FaultHarness,
    readonly label: string,
    readonly prefix: string,
    readonly topics: Record<TopicKey, string>,
  ) {
    this.routerGroup = `faults-router-${label}`;
    this.kafka = harness.stack.kafkaClient(`faults-${label}`);
  }

  log(line: string): void {
    process.stdout.write(`[faults ${this.label} ${stamp(this.startedAt)}] ${line}\n`);
  }

  private logFile(name: string): string {
    return join(this.harness.stack.baseDir, `${this.label}-${name}.log`);
  }

  private env(extra: Record<string, string>): Record<string, string> {
    return {
      ...this.harness.stack.baseEnv(),
      TOPIC_PREFIX: this.prefix,
      LOG_LEVEL: 'info',
      METRICS_HOST: '127.0.0.1',
      ...extra,
    };
  }

  async start(): Promise<void> {
    await this.addRouter();
    this.sender = await this.senderProcess();
    this.gateway = await this.gatewayProcess();
    this.sender.start();
    this.gateway.start();
    this.services.push(this.sender, this.gateway);

    await Promise.all([this.gateway.ready(), this.sender.ready(), this.routers[0]?.ready()]);
    this.log('gateway, router and sender are up');
  }

  /** Builds the sender: short retries and cool-downs, so a scenario settles in seconds. */
  private async senderProcess(): Promise<ServiceProcess> {
    const port = await freePort();
    return new ServiceProcess(
      'sender',
      'services/sender/src/main.ts',
      this.env({
        GRAPH_API_URL: this.harness.simulatorUrl,
        SENDER_GROUP_ID: `faults-sender-${this.label}`,
        METRICS_PORT: String(port),
        GRAPH_TIMEOUT_MS: '1500',
        RETRY_BASE_MS: '50',
        RETRY_MAX_MS: '300',
        THROTTLE_BACKOFF_MS: '300',
        CIRCUIT_COOLDOWN_MS: '500',
        CIRCUIT_MAX_COOLDOWN_MS: '2000',
        PARKED_SWEEP_INTERVAL_MS: '200',
        CONSUMER_SESSION_TIMEOUT_MS: '6000',
        DATABASE_POOL_MAX: '5',
      }),
      this.logFile('sender'),
      { restartOnCrash: true, readyUrl: `http://127.0.0.1:${port}/healthz` },
    );
  }

  private async gatewayProcess(): Promise<ServiceProcess> {
    const port = await freePort();
    this.gatewayUrl = `http://127.0.0.1:${port}`;
    const env = this.env({
      HOST: '127.0.0.1',
      PORT: String(port),
      META_APP_SECRET: this.harness.appSecret,
      META_VERIFY_TOKEN: `faults-${randomBytes(6).toString('hex')}`,
      GATEWAY_INSTANCE: `faults-${this.label}`,
    });
    // Webhooks only: without a database the gateway serves no client API.
    delete env.DATABASE_URL;
    return new ServiceProcess(
      'gateway',
      'services/gateway/src/main.ts',
      env,
      this.logFile('gateway'),
      {
        restartOnCrash: true,
        readyUrl: `${this.gatewayUrl}/healthz`,
      },
    );
  }

  /** Starts one more router instance in the scenario's consumer groups. */
  async addRouter(): Promise<ServiceProcess> {
    const port = await freePort();
    const router = new ServiceProcess(
      `router-${this.routers.length + 1}`,
      'services/router/src/main.ts',
      this.env({
        ROUTER_GROUP_ID: this.routerGroup,
        PROJECTOR_GROUP_ID: `faults-projector-${this.label}`,
        METRICS_PORT: String(port),
        CONSUMER_SESSION_TIMEOUT_MS: '6000',
        ROUTER_RETRY_MAX_MS: '2000',
        ROUTER_MAX_RECORDS_PER_TRANSACTION: '200',
      }),
      this.logFile(`router-${this.routers.length + 1}`),
      { restartOnCrash: true, readyUrl: `http://127.0.0.1:${port}/healthz` },
    );
    router.start();
    this.routers.push(router);
    this.services.push(router);
    return router;
  }

  /** Runs the load driver as its own process; resolves when it has finished by itself. */
  async runLoad(
    options: { ratePerSecond: number; durationMs: number; seed: number },
    during: (elapsedMs: () => number) => Promise<void> = async () => {},
  ): Promise<string> {
    const outFile = join(this.harness.stack.baseDir, `${this.label}-load.jsonl`);
    const settings: LoadSettings = {
      url: `${this.gatewayUrl}/webhook`,
      appSecret: this.harness.appSecret,
      accounts: this.harness.accounts.map((account) => account.ig_business_id),
      unknownAccount: this.harness.unknownAccount,
      ratePerSecond: options.ratePerSecond,
      durationMs: options.durationMs,
      maxRequests: Math.ceil((options.ratePerSecond * options.durationMs) / 1000),
      maxInFlight: 400,
      requestTimeoutMs: 8_000,
      idPrefix: `d${this.label}`,
      seed: options.seed,
      outFile,
    };
    const driver = new ServiceProcess(
      'load-driver',
      'test/faults/support/load-driver.ts',
      {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        IGR_STACK_ENV: this.harness.stack.envFile,
        FAULTS_LOAD: JSON.stringify(settings),
      },
      this.logFile('load-driver'),
      { oneShot: true },
    );
    const started = Date.now();
    driver.start();
    this.log(
      `load: ${options.ratePerSecond} req/s for ${options.durationMs / 1000} s (seed ${options.seed})`,
    );
    try {
      await during(() => Date.now() - started);
      await driver.exited(options.durationMs + 60_000);
    } finally {
      await driver.kill('SIGKILL');
    }
    if (driver.exitCode !== 0) throw new Error(`the load driver exited with ${driver.exitCode}`);
    return outFile;
  }

  /**
   * Writes `count` send commands to ig.outbound over about `durationMs`, spread over the
   * accounts, and remembers their ids.
   */
  async produceCommands(count: number, durationMs: number): Promise<void> {
    const producer = createIdempotentProducer(this.kafka);
    await producer.connect();
    try {
      const perBatch = 10;
      const batches = Math.ceil(count / perBatch);
      for (let batch = 0; batch < batches; batch += 1) {
        const commands: SendCommand[] = [];
        for (let i = 0; i < perBatch && this.commandIds.length < count; i += 1) {
          const n = this.commandIds.length;
          const account = this.harness.accounts[n % this.harness.accounts.length] as TestAccount;
          const command: SendCommand = {
            command_id: `c-${this.label}-${n}`,
            ig_business_id: account.ig_business_id,
            recipient: { id: `9${String(1 + (n % 400)).padStart(15, '0')}` },
            message: { text: `fault suite reply ${n}` },
            created_at: new Date().toISOString(),
          };
          commands.push(command);
          this.commandIds.push(command.command_id);
        }
        await producer.send({
          topic: this.topics.outbound,
          acks: -1,
          messages: commands.map((command) => ({
            key: command.ig_business_id,
            value: JSON.stringify(command),
          })),
        });
        await sleep(durationMs / batches);
      }
    } finally {
      await producer.disconnect();
    }
  }

  /** Waits until each command has a result in ig.outbound.results, or the deadline passes. */
  async waitForResults(timeoutMs: number): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    const deadline = Date.now() + timeoutMs;
    try {
      for (;;) {
        const offsets = await admin.fetchTopicOffsets(this.topics.outboundResults);
        const total = offsets.reduce((sum, p) => sum + (Number(p.high) - Number(p.low)), 0);
        if (total >= this.commandIds.length || Date.now() > deadline) break;
        await sleep(500);
      }
    } finally {
      await admin.disconnect();
    }
  }

  /** Waits for the router group to commit the end of ig.raw, then runs the checks. */
  async verify(loadFile: string | undefined, figures: Figures): Promise<Evidence | undefined> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      await waitForGroupCaughtUp(admin, this.routerGroup, this.topics.raw, 120_000);
    } finally {
      await admin.disconnect();
    }
    let evidence: Evidence | undefined;
    if (loadFile) {
      evidence = await checkDeliveries(
        this.kafka,
        this.harness.stack.brokers,
        this.topics,
        readLoadFile(loadFile),
        figures,
      );
    }
    if (this.commandIds.length > 0) {
      const sends = await checkSends(
        this.kafka,
        this.topics,
        this.harness.simulatorUrl,
        this.commandIds,
        figures,
      );
      if (sends.withoutOneResult.length > 0) {
        this.log(
          `commands without exactly one result: ${JSON.stringify(sends.withoutOneResult.slice(0, 10))}`,
        );
      }
      figures.resultMismatches =
        sends.mismatches.sentWithoutDelivery.length + sends.mismatches.failedButDelivered.length;
      if (figures.resultMismatches > 0) {
        this.log(`results that contradict the simulator: ${JSON.stringify(sends.mismatches)}`);
      }
      this.log(
        `${figures.ambiguous} ambiguous results, of which ${sends.ambiguousNeverSeen} commands never reached the simulator`,
      );
      if (sends.duplicatedSends.length > 0) {
        this.log(`commands sent twice: ${sends.duplicatedSends.slice(0, 10).join(', ')}`);
      }
    }
    figures.unplannedExits = this.services.reduce((sum, s) => sum + s.unplannedExits, 0);
    figures.seconds = Math.round((Date.now() - this.startedAt) / 1000);
    if (evidence) {
      for (const [what, list] of Object.entries(evidence)) {
        if ((list as string[]).length > 0) {
          this.log(`${what}: ${(list as string[]).slice(0, 10).join(', ')}`);
        }
      }
    }
    return evidence;
  }

  /** Stops every service of the scenario: gateway first, as a deployment would. */
  async stop(): Promise<void> {
    for (const service of [this.gateway, ...this.routers, this.sender]) {
      await service?.close().catch(() => {});
    }
  }

  newFigures(): Figures {
    return emptyFigures(this.label);
  }
}
