import { IgRouterError } from '@ig-router/core';

/**
 * Exit codes of `igr`. 64 and 78 follow BSD sysexits (EX_USAGE, EX_CONFIG), so they never
 * collide with the command-specific codes 1 and 2.
 */
export const ExitCodes = {
  OK: 0,
  /** The command ran and failed: a value was not found, a Graph call failed, a record failed audit. */
  FAILURE: 1,
  /** `igr accounts check` found a token that is invalid or expires soon. */
  ATTENTION: 2,
  /** Unknown command, unknown option, or an option value that does not parse. */
  USAGE: 64,
  /** A required environment variable is missing or invalid. */
  CONFIG: 78,
} as const;

export type ExitCode = (typeof ExitCodes)[keyof typeof ExitCodes];

/** Stable codes of the errors `igr` raises. Tests match on these, never on message text. */
export const CliErrorCodes = {
  USAGE_INVALID: 'USAGE_INVALID',
  TOKEN_INPUT_INVALID: 'TOKEN_INPUT_INVALID',
  CLIENT_NOT_FOUND: 'CLIENT_NOT_FOUND',
  CLIENT_NAME_TAKEN: 'CLIENT_NAME_TAKEN',
  ACCOUNT_NOT_FOUND: 'ACCOUNT_NOT_FOUND',
  CIRCUIT_NOT_FOUND: 'CIRCUIT_NOT_FOUND',
  ACCOUNT_OWNED_BY_OTHER_CLIENT: 'ACCOUNT_OWNED_BY_OTHER_CLIENT',
  ONBOARDING_FAILED: 'ONBOARDING_FAILED',
  GRAPH_CHECK_FAILED: 'GRAPH_CHECK_FAILED',
  TOPIC_NOT_FOUND: 'TOPIC_NOT_FOUND',
  APPS_FILE_INVALID: 'APPS_FILE_INVALID',
  SEND_TIMED_OUT: 'SEND_TIMED_OUT',
  READ_TIMED_OUT: 'READ_TIMED_OUT',
  OUTPUT_FAILED: 'OUTPUT_FAILED',
} as const;

export type CliErrorCode = (typeof CliErrorCodes)[keyof typeof CliErrorCodes];

/** An error that `igr` reports as one line on stderr and turns into an exit code. */
export class CliError extends IgRouterError {
  override readonly code: CliErrorCode;
  readonly exitCode: ExitCode;

  constructor(
    code: CliErrorCode,
    message: string,
    options: { exitCode?: ExitCode; cause?: unknown } = {},
  ) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CliError';
    this.code = code;
    this.exitCode = options.exitCode ?? ExitCodes.FAILURE;
  }
}

/** Raised for a command line that does not parse; `igr` exits with 64. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(CliErrorCodes.USAGE_INVALID, message, { exitCode: ExitCodes.USAGE });
    this.name = 'UsageError';
  }
}
