import { IgRouterError } from '@ig-router/core';

/** Stable codes of the errors the gateway raises. Tests and callers match on these. */
export const GatewayErrorCodes = {
  SIGNATURE_MISSING: 'SIGNATURE_MISSING',
  SIGNATURE_MALFORMED: 'SIGNATURE_MALFORMED',
  SIGNATURE_MISMATCH: 'SIGNATURE_MISMATCH',
  BODY_EMPTY: 'BODY_EMPTY',
  BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  APP_NOT_FOUND: 'APP_NOT_FOUND',
  HANDSHAKE_MODE_INVALID: 'HANDSHAKE_MODE_INVALID',
  VERIFY_TOKEN_MISMATCH: 'VERIFY_TOKEN_MISMATCH',
  APPS_FILE_INVALID: 'APPS_FILE_INVALID',
  KAFKA_UNAVAILABLE: 'KAFKA_UNAVAILABLE',
  TOPIC_MISSING: 'TOPIC_MISSING',
  PRODUCE_TIMEOUT: 'PRODUCE_TIMEOUT',
  PRODUCE_QUEUE_FULL: 'PRODUCE_QUEUE_FULL',
  GATEWAY_CLOSING: 'GATEWAY_CLOSING',
} as const;

export type GatewayErrorCode = (typeof GatewayErrorCodes)[keyof typeof GatewayErrorCodes];

export class GatewayError extends IgRouterError {
  override readonly code: GatewayErrorCode;

  constructor(code: GatewayErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'GatewayError';
    this.code = code;
  }
}

/**
 * Raised when a webhook POST does not carry a valid `X-Hub-Signature-256` for the app's secret.
 * The gateway responds with 403 and writes nothing.
 */
export class SignatureError extends GatewayError {
  constructor(
    code:
      | typeof GatewayErrorCodes.SIGNATURE_MISSING
      | typeof GatewayErrorCodes.SIGNATURE_MALFORMED
      | typeof GatewayErrorCodes.SIGNATURE_MISMATCH,
    message: string,
  ) {
    super(code, message);
    this.name = 'SignatureError';
  }
}

/** Raised when META_APPS_FILE cannot be read or does not match the named-apps schema. */
export class AppsFileError extends GatewayError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(GatewayErrorCodes.APPS_FILE_INVALID, message, options);
    this.name = 'AppsFileError';
  }
}

/**
 * Raised when a record could not be stored in `ig.raw` in time. The gateway responds with 503,
 * so Meta delivers the payload again. A record that timed out may still be written later by the
 * producer's own retry, so the same payload can be stored twice (at least once).
 */
export class ProduceError extends GatewayError {
  constructor(
    code:
      | typeof GatewayErrorCodes.KAFKA_UNAVAILABLE
      | typeof GatewayErrorCodes.PRODUCE_TIMEOUT
      | typeof GatewayErrorCodes.PRODUCE_QUEUE_FULL
      | typeof GatewayErrorCodes.GATEWAY_CLOSING,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.name = 'ProduceError';
  }
}
