import { IgRouterError } from '@ig-router/core';

/** Stable error codes raised by libs/testkit. */
export const TestkitErrorCodes = {
  APP_SECRET_MISSING: 'APP_SECRET_MISSING',
  PAYLOAD_SEED_INVALID: 'PAYLOAD_SEED_INVALID',
  PAYLOAD_NOT_JSON: 'PAYLOAD_NOT_JSON',
  SIM_ACCOUNT_INVALID: 'SIM_ACCOUNT_INVALID',
  SIM_FAULT_INVALID: 'SIM_FAULT_INVALID',
  SIM_OPTIONS_INVALID: 'SIM_OPTIONS_INVALID',
} as const;

export type TestkitErrorCode = (typeof TestkitErrorCodes)[keyof typeof TestkitErrorCodes];

/** Error raised by the test kit when a caller passes invalid input. */
export class TestkitError extends IgRouterError {
  constructor(code: TestkitErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'TestkitError';
  }
}
