import { IgRouterError } from '@ig-router/core';

/** Stable codes of the errors the sender raises or reports in failed results. */
export const SenderErrorCodes = {
  ACCOUNT_UNKNOWN: 'ACCOUNT_UNKNOWN',
  ACCOUNT_INACTIVE: 'ACCOUNT_INACTIVE',
  PARTITION_LOAD_FAILED: 'PARTITION_LOAD_FAILED',
  TOPIC_READ_FAILED: 'TOPIC_READ_FAILED',
  SENDER_STOPPED: 'SENDER_STOPPED',
} as const;

export type SenderErrorCode = (typeof SenderErrorCodes)[keyof typeof SenderErrorCodes];

export class SenderError extends IgRouterError {
  constructor(code: SenderErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'SenderError';
  }
}

/** The command names an account that is not in `ig_accounts`. */
export class AccountUnknownError extends SenderError {
  constructor(igBusinessId: string) {
    super(
      SenderErrorCodes.ACCOUNT_UNKNOWN,
      `account ${igBusinessId} is not registered; onboard it with igr accounts add`,
    );
    this.name = 'AccountUnknownError';
  }
}

/** The account exists but is deactivated, so nothing is sent for it. */
export class AccountInactiveError extends SenderError {
  constructor(igBusinessId: string) {
    super(
      SenderErrorCodes.ACCOUNT_INACTIVE,
      `account ${igBusinessId} is inactive; activate it before sending`,
    );
    this.name = 'AccountInactiveError';
  }
}

/** Raised into waiting work when the sender stops, so nothing waits forever. */
export class SenderStoppedError extends SenderError {
  constructor() {
    super(SenderErrorCodes.SENDER_STOPPED, 'the sender is stopping');
    this.name = 'SenderStoppedError';
  }
}
