/**
 * Base class for every error that crosses a module boundary. Callers and tests match on
 * `code`, never on the message text.
 */
export class IgRouterError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IgRouterError';
    this.code = code;
  }
}

/** Stable error codes raised by libs/core. Services add their own codes beside these. */
export const ErrorCodes = {
  CONFIG_INVALID: 'CONFIG_INVALID',
  TOPIC_PARTITION_MISMATCH: 'TOPIC_PARTITION_MISMATCH',
  TOKEN_DECRYPT_FAILED: 'TOKEN_DECRYPT_FAILED',
  TOKEN_CONTEXT_MISMATCH: 'TOKEN_CONTEXT_MISMATCH',
  TOKEN_ENCRYPT_FAILED: 'TOKEN_ENCRYPT_FAILED',
  MIGRATION_FAILED: 'MIGRATION_FAILED',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];
