import type { Logger } from '@ig-router/core';

/** A rejected request, as logged. Never carries the body, a signature, a token or a secret. */
export interface Rejection {
  /** Short, stable reason such as `mismatch`, `body_too_large` or `kafka_unavailable`. */
  reason: string;
  /** Error code, when an error with a code caused the rejection. */
  code?: string | undefined;
  /** Configured app name, or `unknown` when the path names no configured app. */
  app: string;
  status: number;
  remoteAddress: string;
  requestId: string;
}

interface KeyState {
  loggedAt: number;
  suppressed: number;
}

/**
 * Logs rejected requests, at most one line per reason and app per interval. The next line for
 * that reason and app carries `suppressed`, the number of rejections not logged in between, so
 * a flood of bad requests cannot fill the logs and is still counted.
 */
export class RejectionLog {
  private readonly logger: Logger;
  private readonly intervalMs: number;
  // Keys are reason × configured app names, a small bounded set.
  private readonly states = new Map<string, KeyState>();

  constructor(logger: Logger, intervalMs = 10_000) {
    this.logger = logger;
    this.intervalMs = intervalMs;
  }

  record(rejection: Rejection): void {
    const key = `${rejection.reason}\u0000${rejection.app}`;
    const now = Date.now();
    const state = this.states.get(key);
    if (state && now - state.loggedAt < this.intervalMs) {
      state.suppressed += 1;
      return;
    }

    this.states.set(key, { loggedAt: now, suppressed: 0 });
    this.logger.warn(
      {
        reason: rejection.reason,
        code: rejection.code,
        app: rejection.app,
        status: rejection.status,
        remote_address: rejection.remoteAddress,
        request_id: rejection.requestId,
        suppressed: state?.suppressed ?? 0,
      },
      'webhook request rejected',
    );
  }

  /** Logs the counts still suppressed, so a shutdown does not lose them. */
  flush(): void {
    for (const [key, state] of this.states) {
      if (state.suppressed === 0) continue;
      const [reason, app] = key.split('\u0000');
      this.logger.warn({ reason, app, suppressed: state.suppressed }, 'webhook requests rejected');
      state.suppressed = 0;
    }
  }
}
