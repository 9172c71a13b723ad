import { Counter, Histogram, type Registry } from 'prom-client';

/** Prometheus series of the gateway. `createMetricsRegistry` adds `service="gateway"` to each. */
export interface GatewayMetrics {
  registry: Registry;
  /** HTTP requests by route template, method and status code. */
  requests: Counter<'route' | 'method' | 'status'>;
  /** Rejected webhook POSTs by app and signature failure reason. */
  signatureFailures: Counter<'app' | 'reason'>;
  /** Body bytes of webhook POSTs by app, counted before verification. */
  receivedBytes: Counter<'app'>;
  /** Time from queueing a record to its acknowledgement by Kafka, in seconds. */
  produceDuration: Histogram<string>;
  /** Records per `sendBatch` call. */
  produceBatchRecords: Histogram<string>;
  /** Failed or stalled Kafka operations by kind. */
  kafkaErrors: Counter<'kind'>;
}

/** Kinds of `igr_gateway_kafka_errors_total`. */
export type KafkaErrorKind =
  | 'send_failed'
  | 'send_stalled'
  | 'connect_failed'
  | 'produce_timeout'
  | 'queue_full'
  | 'probe_failed';

export function createGatewayMetrics(registry: Registry): GatewayMetrics {
  return {
    registry,
    requests: new Counter({
      name: 'igr_gateway_requests_total',
      help: 'HTTP requests by route template, method and status code.',
      labelNames: ['route', 'method', 'status'],
      registers: [registry],
    }),
    signatureFailures: new Counter({
      name: 'igr_gateway_signature_failures_total',
      help: 'Webhook POSTs rejected with 403, by app and reason (missing, sha1_only, malformed, mismatch, body_empty).',
      labelNames: ['app', 'reason'],
      registers: [registry],
    }),
    receivedBytes: new Counter({
      name: 'igr_gateway_received_bytes_total',
      help: 'Body bytes of webhook POSTs by app, counted before signature verification.',
      labelNames: ['app'],
      registers: [registry],
    }),
    produceDuration: new Histogram({
      name: 'igr_gateway_produce_duration_seconds',
      help: 'Time from queueing an ig.raw record to its acknowledgement by Kafka (acks=all).',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    produceBatchRecords: new Histogram({
      name: 'igr_gateway_produce_batch_records',
      help: 'Records sent per produce request to ig.raw.',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
      registers: [registry],
    }),
    kafkaErrors: new Counter({
      name: 'igr_gateway_kafka_errors_total',
      help: 'Kafka failures by kind (send_failed, send_stalled, connect_failed, produce_timeout, queue_full, probe_failed).',
      labelNames: ['kind'],
      registers: [registry],
    }),
  };
}
