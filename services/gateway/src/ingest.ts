import type { Message } from 'kafkajs';
import { firstEntryId } from './entry-id.js';

/**
 * Header names of an `ig.raw` record. The signature as received and the app whose secret
 * verified it are enough to verify the stored value again later.
 */
export const RawRecordHeaders = {
  signature: 'x-hub-signature-256',
  /** Receive time in ms since the epoch, as a decimal string. */
  receivedAt: 'igr-received-at',
  requestId: 'igr-request-id',
  app: 'igr-app',
  gatewayInstance: 'igr-gateway-instance',
} as const;

/** A verified webhook delivery, ready to become an `ig.raw` record. */
export interface VerifiedDelivery {
  /** The exact request body bytes. */
  body: Buffer;
  /** The `X-Hub-Signature-256` header value as received. */
  signature: string;
  /** Receive time in ms since the epoch. */
  receivedAt: number;
  requestId: string;
  appName: string;
  gatewayInstance: string;
}

/**
 * Builds the `ig.raw` record of a delivery. The value is the body unchanged and the record
 * timestamp is the receive time. The key is the first `entry[].id`, or null when the body is
 * not JSON, in which case the router sends the record to the dead-letter topic.
 */
export function buildRawRecord(delivery: VerifiedDelivery): Message {
  const receivedAt = String(delivery.receivedAt);
  return {
    key: firstEntryId(delivery.body),
    value: delivery.body,
    timestamp: receivedAt,
    headers: {
      [RawRecordHeaders.signature]: delivery.signature,
      [RawRecordHeaders.receivedAt]: receivedAt,
      [RawRecordHeaders.requestId]: delivery.requestId,
      [RawRecordHeaders.app]: delivery.appName,
      [RawRecordHeaders.gatewayInstance]: delivery.gatewayInstance,
    },
  };
}
