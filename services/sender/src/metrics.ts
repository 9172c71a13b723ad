import { createMetricsRegistry, type GraphCallEvent, type SendResult } from '@ig-router/core';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { CircuitState } from './circuit.js';

/** Where a command the sender holds is waiting. */
export type WaitingState = 'queued' | 'rate_limited' | 'in_flight' | 'retry_backoff' | 'parked';

/** Prometheus metrics of the sender, on a registry of its own. */
export class SenderMetrics {
  readonly registry: Registry;
  private readonly sends: Counter<'status' | 'error_class'>;
  private readonly graphDuration: Histogram<'operation' | 'outcome'>;
  private readonly circuitChanges: Counter<'state' | 'reason'>;
  private readonly waitingCounts = new Map<WaitingState, number>();
  private circuitSource: () => Iterable<CircuitState> = () => [];
  private parkedSource: () => number = () => 0;

  constructor() {
    this.registry = createMetricsRegistry('sender');
    this.sends = new Counter({
      name: 'igr_sender_sends_total',
      help: 'Commands finished, by result status and Graph error class (none when not failed).',
      labelNames: ['status', 'error_class'],
      registers: [this.registry],
    });
    this.graphDuration = new Histogram({
      name: 'igr_sender_graph_request_duration_seconds',
      help: 'Duration of Graph API requests in seconds, by operation and outcome.',
      labelNames: ['operation', 'outcome'],
      buckets: [0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 1, 2, 5, 10, 30],
      registers: [this.registry],
    });
    this.circuitChanges = new Counter({
      name: 'igr_sender_circuit_changes_total',
      help: 'Circuit state changes written to ig.circuit, by new state and reason.',
      labelNames: ['state', 'reason'],
      registers: [this.registry],
    });
    const metrics = this;
    new Gauge({
      name: 'igr_sender_circuits',
      help: 'Circuits of the accounts this instance owns that are not closed, by state and reason.',
      labelNames: ['state', 'reason'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const circuit of metrics.circuitSource()) {
          if (circuit.state === 'closed') continue;
          this.inc({ state: circuit.state, reason: circuit.reason ?? 'none' });
        }
      },
    });
    // Registered only: its collect() reads the counts at scrape time.
    new Gauge({
      name: 'igr_sender_commands_waiting',
      help: 'Commands held by this instance, by what they wait for; parked counts the sends table.',
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        for (const [state, count] of metrics.waitingCounts) this.set({ state }, count);
        this.set({ state: 'parked' }, metrics.parkedSource());
      },
    });
  }

  /** Sets the functions that list owned circuits and count parked commands at scrape time. */
  observe(circuits: () => Iterable<CircuitState>, parked: () => number): void {
    this.circuitSource = circuits;
    this.parkedSource = parked;
  }

  result(result: SendResult): void {
    let errorClass = 'none';
    if (result.status === 'failed' && result.error) {
      errorClass =
        'classification' in result.error ? result.error.classification : 'invalid_command';
    }
    this.sends.inc({ status: result.status, error_class: errorClass });
  }

  graphCall(event: GraphCallEvent): void {
    this.graphDuration.observe(
      { operation: event.operation, outcome: event.outcome },
      event.durationMs / 1000,
    );
  }

  circuitChange(state: CircuitState): void {
    this.circuitChanges.inc({ state: state.state, reason: state.reason ?? 'none' });
  }

  /** Counts a command entering a waiting state; call the returned function when it leaves. */
  enter(state: Exclude<WaitingState, 'parked'>): () => void {
    this.waitingCounts.set(state, (this.waitingCounts.get(state) ?? 0) + 1);
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.waitingCounts.set(state, (this.waitingCounts.get(state) ?? 1) - 1);
    };
  }

  /** Returns the current count of commands in a waiting state, for tests. */
  waitingCount(state: Exclude<WaitingState, 'parked'>): number {
    return this.waitingCounts.get(state) ?? 0;
  }
}
