import type { Logger } from '@ig-router/core';
import type { Admin, Kafka } from 'kafkajs';
import type { GatewayMetrics } from './metrics.js';
import type { ProduceBatcher } from './produce-batcher.js';

export type NotReadyReason =
  | 'closing'
  | 'producer_disconnected'
  | 'produce_failing'
  | 'kafka_probe_failed';

export type ReadinessState = { ready: true } | { ready: false; reason: NotReadyReason };

export interface ReadinessOptions {
  batcher: ProduceBatcher;
  kafka: Kafka;
  topic: string;
  logger: Logger;
  metrics: GatewayMetrics;
  /** A write outcome younger than this decides readiness; older ones need a metadata probe. */
  freshnessMs?: number;
  /** Maximum time a readiness check waits for the metadata probe. */
  probeTimeoutMs?: number;
  /** How long a probe result is reused, so frequent checks do not each reach Kafka. */
  probeCacheMs?: number;
}

/**
 * Decides whether the gateway can store webhooks: the producer is connected, and either the
 * latest write succeeded recently or, when the gateway has been idle, a metadata request for
 * `ig.raw` succeeds.
 */
export class Readiness {
  private readonly options: Required<ReadinessOptions>;
  private admin: Admin | undefined;
  private probeInFlight: Promise<boolean> | undefined;
  private lastProbe: { at: number; ok: boolean } | undefined;
  private closed = false;

  constructor(options: ReadinessOptions) {
    this.options = {
      freshnessMs: 10_000,
      probeTimeoutMs: 2_000,
      probeCacheMs: 1_000,
      ...options,
    };
  }

  async check(): Promise<ReadinessState> {
    if (this.closed) return { ready: false, reason: 'closing' };
    if (!this.options.batcher.isConnected())
      return { ready: false, reason: 'producer_disconnected' };

    const { lastWriteOkAt, lastWriteFailedAt } = this.options.batcher.writeHealth();
    const lastWriteAt = Math.max(lastWriteOkAt, lastWriteFailedAt);
    if (Date.now() - lastWriteAt < this.options.freshnessMs) {
      return lastWriteOkAt >= lastWriteFailedAt
        ? { ready: true }
        : { ready: false, reason: 'produce_failing' };
    }

    const ok = await this.probe();
    return ok ? { ready: true } : { ready: false, reason: 'kafka_probe_failed' };
  }

  async close(): Promise<void> {
    this.closed = true;
    const admin = this.admin;
    this.admin = undefined;
    await admin?.disconnect().catch(() => {});
  }

  /** Fetches the metadata of `ig.raw`; at most one request runs at a time. */
  private async probe(): Promise<boolean> {
    if (this.lastProbe && Date.now() - this.lastProbe.at < this.options.probeCacheMs) {
      return this.lastProbe.ok;
    }
    if (!this.probeInFlight) {
      this.probeInFlight = this.fetchMetadata().finally(() => {
        this.probeInFlight = undefined;
      });
    }

    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), this.options.probeTimeoutMs);
    });
    const ok = await Promise.race([this.probeInFlight, timedOut]);
    clearTimeout(timer);
    this.lastProbe = { at: Date.now(), ok };
    return ok;
  }

  private async fetchMetadata(): Promise<boolean> {
    try {
      let admin = this.admin;
      if (!admin) {
        admin = this.options.kafka.admin();
        this.admin = admin;
        await admin.connect();
      }
      await admin.fetchTopicMetadata({ topics: [this.options.topic] });
      return true;
    } catch (err) {
      this.options.metrics.kafkaErrors.inc({ kind: 'probe_failed' });
      this.options.logger.warn({ err, topic: this.options.topic }, 'Kafka readiness probe failed');
      // A fresh admin client next time, because kafkajs may leave this one half connected.
      const admin = this.admin;
      this.admin = undefined;
      await admin?.disconnect().catch(() => {});
      return false;
    }
  }
}
