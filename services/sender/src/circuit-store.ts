import type { Logger } from '@ig-router/core';
import type { KafkaMessage } from 'kafkajs';
import {
  type CircuitEvent,
  type CircuitPolicy,
  type CircuitState,
  circuitStateSchema,
  closedCircuit,
  isStateChange,
  nextCircuitState,
  retryAt,
} from './circuit.js';
import type { SenderMetrics } from './metrics.js';
import type { PartitionMap } from './partitions.js';
import type { RecordWriter } from './record-writer.js';

/** Decision on a command under its account's circuit. */
export type Admission = 'send' | 'probe' | 'reject';

export type CircuitListener = (igBusinessId: string, state: CircuitState) => void;

/** setTimeout fires at once for delays above 2^31 - 1 ms, so longer waits are re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Circuit breakers of every account, event-sourced through the compacted `ig.circuit` topic.
 *
 * A private consumer follows the whole topic (see TopicTail), so the states of the accounts an
 * instance takes over after a rebalance are known once that reader has caught up with the high
 * watermarks. This instance writes every state change of the accounts it owns. A record that
 * it did not write (an operator's `igr circuit reset`, or the previous owner's) replaces the
 * in-memory state when it is newer.
 */
export class CircuitBreakers {
  private readonly states = new Map<string, CircuitState>();
  private readonly ownWrites = new Map<string, string[]>();
  private readonly probes = new Map<string, Array<() => void>>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly listeners = new Set<CircuitListener>();
  private ownedPartitions = new Set<number>();

  constructor(
    private readonly policy: CircuitPolicy,
    private readonly writer: RecordWriter,
    private readonly topic: string,
    private readonly partitions: PartitionMap,
    private readonly metrics: SenderMetrics,
    private readonly logger: Logger,
    private readonly clock: () => number = Date.now,
  ) {}

  onChange(listener: CircuitListener): void {
    this.listeners.add(listener);
  }

  owns(igBusinessId: string): boolean {
    return this.ownedPartitions.has(this.partitions.partitionOf(igBusinessId));
  }

  /** Sets the `ig.outbound` partitions this instance owns and re-arms the cool-down timers. */
  setOwnedPartitions(partitions: Iterable<number>): void {
    this.ownedPartitions = new Set(partitions);
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.probes.clear();
    for (const state of this.states.values()) this.armTimer(state);
  }

  get(igBusinessId: string): CircuitState {
    return this.states.get(igBusinessId) ?? closedCircuit(igBusinessId, 0);
  }

  /** The circuits of owned accounts, for metrics. */
  *ownedStates(): Iterable<CircuitState> {
    for (const state of this.states.values()) {
      if (this.owns(state.ig_business_id)) yield state;
    }
  }

  /**
   * Decides whether a command of the account may call Graph now. An open circuit whose
   * cool-down has passed turns half-open, and then exactly one command at a time gets `probe`.
   * The others wait for its outcome and are decided again.
   */
  async admit(igBusinessId: string): Promise<Admission> {
    for (;;) {
      let state = this.get(igBusinessId);
      if (state.state === 'closed') return 'send';

      if (state.state === 'open') {
        state = await this.apply(igBusinessId, { type: 'cooldown_elapsed' });
        if (state.state === 'open') return 'reject';
        if (state.state === 'closed') return 'send';
      }

      const waiters = this.probes.get(igBusinessId);
      if (!waiters) {
        this.probes.set(igBusinessId, []);
        return 'probe';
      }
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  }

  /** Ends a probe that `admit` granted; call it after the probe's outcome was applied. */
  endProbe(igBusinessId: string): void {
    const waiters = this.probes.get(igBusinessId);
    this.probes.delete(igBusinessId);
    for (const wake of waiters ?? []) wake();
  }

  /**
   * Applies an event to the account's circuit. A state change is logged, counted and written
   * to `ig.circuit`; the returned promise resolves after Kafka acknowledged it.
   */
  async apply(igBusinessId: string, event: CircuitEvent): Promise<CircuitState> {
    const before = this.get(igBusinessId);
    const after = nextCircuitState(before, event, this.clock(), this.policy);
    if (after === before) return before;

    this.states.set(igBusinessId, after);
    if (!isStateChange(before, after)) return after;

    this.armTimer(after);
    this.logChange(before, after, event);
    this.metrics.circuitChange(after);
    const value = JSON.stringify(after);
    this.rememberOwnWrite(igBusinessId, value);
    this.notify(igBusinessId, after);
    await this.writer.write({ topic: this.topic, key: igBusinessId, value });
    return after;
  }

  /** Writes a tombstone for a removed account and drops its circuit from memory. */
  async remove(igBusinessId: string): Promise<void> {
    if (!this.states.has(igBusinessId)) return;
    this.states.delete(igBusinessId);
    clearTimeout(this.timers.get(igBusinessId));
    this.timers.delete(igBusinessId);
    this.rememberOwnWrite(igBusinessId, null);
    this.logger.info({ ig_business_id: igBusinessId }, 'circuit removed with the account');
    await this.writer.write({ topic: this.topic, key: igBusinessId, value: null });
  }

  /** Applies one `ig.circuit` record read by the topic tail. */
  applyRecord(_partition: number, message: KafkaMessage): void {
    const igBusinessId = message.key?.toString('utf8');
    if (!igBusinessId) return;
    const value = message.value === null ? null : message.value.toString('utf8');
    if (this.isOwnWrite(igBusinessId, value)) return;

    if (value === null) {
      this.states.delete(igBusinessId);
      return;
    }
    let parsed: CircuitState;
    try {
      parsed = circuitStateSchema.parse(JSON.parse(value));
    } catch (err) {
      this.logger.warn(
        { ig_business_id: igBusinessId, err },
        'ignoring an invalid ig.circuit record',
      );
      return;
    }

    const current = this.states.get(igBusinessId);
    if (current && Date.parse(current.updated_at) >= Date.parse(parsed.updated_at)) return;
    this.states.set(igBusinessId, parsed);
    if (!this.owns(igBusinessId)) return;

    this.logger.info(
      { ig_business_id: igBusinessId, state: parsed.state, reason: parsed.reason },
      'circuit changed by another writer',
    );
    this.armTimer(parsed);
    this.notify(igBusinessId, parsed);
  }

  /** Forgets the accounts of partitions this instance no longer owns. */
  forgetUnowned(): void {
    for (const igBusinessId of this.ownWrites.keys()) {
      if (!this.owns(igBusinessId)) this.ownWrites.delete(igBusinessId);
    }
  }

  stop(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const igBusinessId of [...this.probes.keys()]) this.endProbe(igBusinessId);
  }

  private notify(igBusinessId: string, state: CircuitState): void {
    for (const listener of this.listeners) listener(igBusinessId, state);
  }

  private armTimer(state: CircuitState): void {
    const igBusinessId = state.ig_business_id;
    clearTimeout(this.timers.get(igBusinessId));
    this.timers.delete(igBusinessId);
    const at = retryAt(state);
    if (state.state !== 'open' || at === undefined || !this.owns(igBusinessId)) return;

    const delay = Math.max(0, at - this.clock());
    const timer = setTimeout(
      () => {
        this.timers.delete(igBusinessId);
        if (delay >= MAX_TIMER_MS) {
          this.armTimer(this.get(igBusinessId));
          return;
        }
        this.apply(igBusinessId, { type: 'cooldown_elapsed' }).catch((err: unknown) => {
          this.logger.error(
            { ig_business_id: igBusinessId, err },
            'writing a circuit state failed',
          );
        });
      },
      Math.min(delay, MAX_TIMER_MS),
    );
    timer.unref();
    this.timers.set(igBusinessId, timer);
  }

  private rememberOwnWrite(igBusinessId: string, value: string | null): void {
    const writes = this.ownWrites.get(igBusinessId) ?? [];
    writes.push(value ?? '');
    this.ownWrites.set(igBusinessId, writes);
  }

  /** Matches a record against this instance's writes, which the tail reads back in order. */
  private isOwnWrite(igBusinessId: string, value: string | null): boolean {
    const writes = this.ownWrites.get(igBusinessId);
    if (!writes) return false;
    const index = writes.indexOf(value ?? '');
    if (index < 0) return false;
    writes.splice(0, index + 1);
    if (writes.length === 0) this.ownWrites.delete(igBusinessId);
    return true;
  }

  private logChange(before: CircuitState, after: CircuitState, event: CircuitEvent): void {
    const fields = {
      ig_business_id: after.ig_business_id,
      from: before.state,
      state: after.state,
      reason: after.reason,
      retry_at: after.retry_at,
      failures: after.failures,
      cooldown_ms: after.cooldown_ms,
      event: event.type,
    };
    if (
      after.state === 'open' &&
      (after.reason === 'permission' || after.reason === 'blocked' || after.reason === 'auth')
    ) {
      this.logger.error(fields, 'circuit opened; the account needs attention');
      return;
    }
    this.logger.warn(fields, 'circuit state changed');
  }
}
