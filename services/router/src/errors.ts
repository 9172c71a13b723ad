import { IgRouterError } from '@ig-router/core';

/** Stable codes of the errors raised by the router service. */
export const RouterErrorCodes = {
  /** The account registry could not be read. The records are retried, never sent to unrouted. */
  ACCOUNT_LOOKUP_FAILED: 'ACCOUNT_LOOKUP_FAILED',
  /** A Kafka transaction failed to send, to add its offsets or to commit, and was aborted. */
  TRANSACTION_FAILED: 'TRANSACTION_FAILED',
  /** The read model could not be written because the database is unreachable or failing. */
  PROJECTION_FAILED: 'PROJECTION_FAILED',
} as const;

export type RouterErrorCode = (typeof RouterErrorCodes)[keyof typeof RouterErrorCodes];

/** Raised when an account lookup fails because PostgreSQL cannot be reached. Retryable. */
export class AccountLookupError extends IgRouterError {
  constructor(accountCount: number, cause: unknown) {
    super(
      RouterErrorCodes.ACCOUNT_LOOKUP_FAILED,
      `Looking up ${accountCount} account(s) in ig_accounts failed; the records will be retried`,
      { cause },
    );
    this.name = 'AccountLookupError';
  }
}

/** Raised when a Kafka transaction of the `ig.raw` pipeline failed and was aborted. Retryable. */
export class TransactionFailedError extends IgRouterError {
  constructor(transactionalId: string, step: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      RouterErrorCodes.TRANSACTION_FAILED,
      `Transaction of ${transactionalId} failed during ${step}: ${reason}`,
      { cause },
    );
    this.name = 'TransactionFailedError';
  }
}

/** Raised when the projector cannot write the read model for a reason worth retrying. */
export class ProjectionFailedError extends IgRouterError {
  constructor(message: string, cause: unknown) {
    super(RouterErrorCodes.PROJECTION_FAILED, message, { cause });
    this.name = 'ProjectionFailedError';
  }
}
