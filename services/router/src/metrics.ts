import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Prometheus series of the router and projector pipelines. */
export interface RouterMetrics {
  recordsIn: Counter<'topic'>;
  eventsOut: Counter<'type'>;
  unrouted: Counter<'reason'>;
  deadLetters: Counter<'reason'>;
  transactions: Counter<'outcome'>;
  transactionSeconds: Histogram;
  retries: Counter<'pipeline' | 'reason'>;
  consumerLag: Gauge<'group' | 'topic' | 'partition'>;
  accountLookups: Counter<'result'>;
  projectorRecords: Counter<'topic' | 'outcome'>;
}

/**
 * Registers the router's series on `registry`. The record, event, unrouted and dead-letter
 * counters count committed work only, so retried records are not counted twice.
 */
export function createRouterMetrics(registry: Registry): RouterMetrics {
  const registers = [registry];
  return {
    recordsIn: new Counter({
      name: 'igr_router_records_in_total',
      help: 'ig.raw records whose outputs were committed.',
      labelNames: ['topic'],
      registers,
    }),
    eventsOut: new Counter({
      name: 'igr_router_events_out_total',
      help: 'Events committed to ig.events, by event type.',
      labelNames: ['type'],
      registers,
    }),
    unrouted: new Counter({
      name: 'igr_router_unrouted_total',
      help: 'Entries committed to ig.events.unrouted, by reason.',
      labelNames: ['reason'],
      registers,
    }),
    deadLetters: new Counter({
      name: 'igr_router_dlq_total',
      help: 'ig.raw records committed to ig.dlq, by reason.',
      labelNames: ['reason'],
      registers,
    }),
    transactions: new Counter({
      name: 'igr_router_transactions_total',
      help: 'Kafka transactions of the ig.raw pipeline, by outcome (commit or abort).',
      labelNames: ['outcome'],
      registers,
    }),
    transactionSeconds: new Histogram({
      name: 'igr_router_transaction_duration_seconds',
      help: 'Time from the start of a transaction to its commit, in seconds.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    retries: new Counter({
      name: 'igr_router_retries_total',
      help: 'Partitions paused for a retry, by pipeline and reason.',
      labelNames: ['pipeline', 'reason'],
      registers,
    }),
    consumerLag: new Gauge({
      name: 'igr_router_consumer_lag',
      help: 'Records between the last processed offset and the high watermark, per partition.',
      labelNames: ['group', 'topic', 'partition'],
      registers,
    }),
    accountLookups: new Counter({
      name: 'igr_router_account_lookups_total',
      help: 'Account lookups, by result: hit (cache), miss (read from PostgreSQL) or error.',
      labelNames: ['result'],
      registers,
    }),
    projectorRecords: new Counter({
      name: 'igr_projector_records_total',
      help: 'Records read by the projector, by topic and outcome (applied, ignored or skipped).',
      labelNames: ['topic', 'outcome'],
      registers,
    }),
  };
}
