import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '@ig-router/core';
import { TestkitError, TestkitErrorCodes } from '../errors.js';
import { handleControl } from './control.js';
import { GraphErrors, graphFailure } from './graph-errors.js';
import { errorOutcome, type GraphOutcome, type GraphRequest } from './graph-request.js';
import {
  BodyTooLargeError,
  bearerToken,
  headerValue,
  isRecord,
  type ParsedBody,
  parseJsonBody,
  readBody,
  writeJson,
} from './http.js';
import {
  handleDebugToken,
  handleListSubscriptions,
  handleNodeRead,
  handleSubscribe,
} from './onboarding.js';
import type { AccountInput, FaultInput, SimAccount } from './schemas.js';
import { handleSend } from './send.js';
import {
  type FaultRecord,
  type SendRequestRecord,
  SimulatorState,
  type SubscriptionRecord,
  tokenFingerprint,
  type ViolationRecord,
} from './state.js';
import { appUsageHeader, businessUseCaseUsageHeader } from './usage.js';

export interface GraphSimulatorOptions {
  /** TCP port; 0 (the default) picks a free one. */
  port?: number;
  /** Listen address. Default 127.0.0.1; containers set 0.0.0.0 so other containers reach it. */
  host?: string;
  /** When set, such as `v21.0`, requests for any other version fail; otherwise every `v<N>.<M>` is accepted. */
  version?: string;
  /** Sends per second per account before code 613, over a sliding one-second window. Default 100. */
  rateLimitPerSecond?: number;
  /** Delay before every Graph API response, in milliseconds. Default 0. */
  latencyMs?: number;
  /** Send API requests kept in the request log; older ones are dropped first. Default 100,000. */
  requestLogLimit?: number;
  /** `app_id` reported by `debug_token` and `subscribed_apps`. */
  appId?: string;
  /** Source of the current time in milliseconds; tests pass a fixed clock. Default `Date.now`. */
  clock?: () => number;
  /** Receives start, stop, violation and internal-error lines; nothing is logged per request. */
  logger?: Logger;
}

/** A running simulator and its in-process control API. */
export interface GraphSimulator {
  /** Base URL without a version, such as `http://127.0.0.1:41234`, to use as `GRAPH_API_URL`. */
  url: string;
  port: number;
  state: SimulatorState;
  /** Stops listening, abandons delayed responses and closes keep-alive connections. */
  close(): Promise<void>;
  registerAccount(input: AccountInput): SimAccount;
  addFault(input: FaultInput): FaultRecord;
  clearFaults(): number;
  requests(filter?: { ig_business_id?: string }): SendRequestRecord[];
  clearRequests(): void;
  subscriptions(): SubscriptionRecord[];
  violations(): ViolationRecord[];
  reset(): void;
}

const VERSIONED_PATH = /^\/(v\d+\.\d+)(\/.*)?$/;
const VERSION_FORMAT = /^v\d+\.\d+$/;

interface PendingResponse {
  timer: NodeJS.Timeout;
  res: ServerResponse;
}

function validateOptions(options: GraphSimulatorOptions): void {
  const problems: string[] = [];
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    problems.push(`port must be a whole number from 0 to 65535, got ${port}`);
  }
  if (options.version !== undefined && !VERSION_FORMAT.test(options.version)) {
    problems.push(`version must look like v21.0, got ${options.version}`);
  }
  const limit = options.rateLimitPerSecond ?? 100;
  if (!Number.isInteger(limit) || limit < 1) {
    problems.push(`rateLimitPerSecond must be a whole number of at least 1, got ${limit}`);
  }
  const latency = options.latencyMs ?? 0;
  if (!Number.isFinite(latency) || latency < 0) {
    problems.push(`latencyMs must be 0 or more, got ${latency}`);
  }
  const logLimit = options.requestLogLimit ?? 100_000;
  if (!Number.isInteger(logLimit) || logLimit < 1) {
    problems.push(`requestLogLimit must be a whole number of at least 1, got ${logLimit}`);
  }
  if (problems.length > 0) {
    throw new TestkitError(
      TestkitErrorCodes.SIM_OPTIONS_INVALID,
      `invalid Graph API simulator options: ${problems.join('; ')}`,
    );
  }
}

/**
 * Starts a Graph API simulator on 127.0.0.1: the Send API, the onboarding reads and the `/_sim`
 * control endpoints. It is a test and demo tool, so production code must not depend on it.
 */
export async function startGraphSimulator(
  options: GraphSimulatorOptions = {},
): Promise<GraphSimulator> {
  validateOptions(options);
  const state = new SimulatorState({
    rateLimitPerSecond: options.rateLimitPerSecond ?? 100,
    requestLogLimit: options.requestLogLimit ?? 100_000,
    appId: options.appId ?? '100000000000001',
    clock: options.clock ?? Date.now,
  });
  const baseLatencyMs = options.latencyMs ?? 0;
  const logger = options.logger;
  const pending = new Set<PendingResponse>();

  function respond(req: IncomingMessage, res: ServerResponse, outcome: GraphOutcome): void {
    const usage = state.usage(outcome.igBusinessId, state.now());
    const headers = {
      'x-app-usage': appUsageHeader(usage.app),
      'x-business-use-case-usage': businessUseCaseUsageHeader(
        outcome.igBusinessId,
        usage.account,
        outcome.regainMinutes ?? usage.regainMinutes,
      ),
    };

    const write = (): void => {
      if (outcome.dropConnection) {
        req.socket.destroy();
        return;
      }
      writeJson(res, outcome.status, outcome.body, headers);
    };

    const delayMs = baseLatencyMs + outcome.latencyMs;
    if (delayMs <= 0) {
      write();
      return;
    }
    const entry: PendingResponse = {
      timer: setTimeout(() => {
        pending.delete(entry);
        write();
      }, delayMs),
      res,
    };
    pending.add(entry);
  }

  function handleGraph(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    body: ParsedBody,
  ): void {
    const match = VERSIONED_PATH.exec(url.pathname);
    const version = match?.[1];
    if (match === null || (options.version !== undefined && version !== options.version)) {
      respond(req, res, errorOutcome(state, GraphErrors.unknownPath(url.pathname), null));
      return;
    }

    const method = req.method ?? 'GET';
    const request: GraphRequest = {
      method,
      segments: (match[2] ?? '').split('/').filter((segment) => segment !== ''),
      query: url.searchParams,
      body,
      token: bearerToken(req),
      commandId: headerValue(req, 'x-command-id') ?? headerValue(req, 'idempotency-key'),
    };
    rejectMisplacedToken(request, method, url.pathname);

    respond(req, res, routeGraph(request, url.pathname));
  }

  // A token in the query string or the body would end up in access logs and request logs, so
  // the simulator treats it as missing, whatever the Authorization header holds.
  function rejectMisplacedToken(request: GraphRequest, method: string, path: string): void {
    const queryToken = request.query.get('access_token');
    if (queryToken !== null) {
      request.query.delete('access_token');
      request.token = null;
      recordViolation('token_in_query', method, path, queryToken);
    }

    const body = request.body.ok ? request.body.value : undefined;
    if (isRecord(body) && typeof body.access_token === 'string') {
      const bodyToken = body.access_token;
      body.access_token = '[redacted]';
      request.token = null;
      recordViolation('token_in_body', method, path, bodyToken);
    }
  }

  function recordViolation(
    kind: ViolationRecord['kind'],
    method: string,
    path: string,
    token: string,
  ): void {
    const violation: ViolationRecord = {
      kind,
      method,
      path,
      token_fingerprint: tokenFingerprint(token),
      at: state.nowIso(),
    };
    state.recordViolation(violation);
    logger?.warn(violation, 'access token sent outside the Authorization header; request rejected');
  }

  function routeGraph(request: GraphRequest, pathname: string): GraphOutcome {
    const [first, edge, ...rest] = request.segments;
    const method = request.method;

    if (first !== undefined && rest.length === 0) {
      if (method === 'POST' && edge === 'messages') return handleSend(state, request, first);
      if (method === 'POST' && edge === 'subscribed_apps')
        return handleSubscribe(state, request, first);
      if (method === 'GET' && edge === 'subscribed_apps') {
        return handleListSubscriptions(state, request, first);
      }
      if (method === 'GET' && edge === undefined && first === 'debug_token') {
        return handleDebugToken(state, request);
      }
      if (method === 'GET' && edge === undefined) return handleNodeRead(state, request, first);
    }
    return errorOutcome(state, GraphErrors.unknownPath(pathname), null);
  }

  async function handleRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');

    let body: ParsedBody;
    try {
      body = parseJsonBody(await readBody(req));
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        writeJson(res, 413, {
          error: { message: error.message, type: 'OAuthException', code: 100 },
        });
        return;
      }
      throw error;
    }

    if (url.pathname === '/_sim' || url.pathname.startsWith('/_sim/')) {
      const response = handleControl(
        state,
        req.method ?? 'GET',
        url.pathname,
        url.searchParams,
        body,
      );
      writeJson(res, response.status, response.body);
      return;
    }
    handleGraph(req, res, url, body);
  }

  const server = createServer((req, res) => {
    handleRequest(req, res).catch((error: unknown) => {
      logger?.error({ err: error }, 'graph simulator failed to handle a request');
      if (!res.headersSent) {
        const failure = graphFailure(1);
        writeJson(res, failure.status, {
          error: { ...failure.error, fbtrace_id: state.nextTraceId() },
        });
      }
    });
  });
  // Clients keep connections open between sends; a short timeout would close them mid-benchmark.
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 61_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });

  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  logger?.info(
    { url, rate_limit_per_second: state.rateLimitPerSecond, latency_ms: baseLatencyMs },
    'graph simulator started',
  );

  let closing: Promise<void> | undefined;
  function close(): Promise<void> {
    closing ??= new Promise<void>((resolve) => {
      for (const entry of pending) {
        clearTimeout(entry.timer);
        entry.res.destroy();
      }
      pending.clear();
      server.close(() => {
        logger?.info({ url }, 'graph simulator stopped');
        resolve();
      });
      server.closeAllConnections();
    });
    return closing;
  }

  return {
    url,
    port,
    state,
    close,
    registerAccount: (input) => state.registerAccount(input),
    addFault: (input) => state.addFault(input),
    clearFaults: () => state.clearFaults(),
    requests: (filter) => state.requests(filter),
    clearRequests: () => state.clearRequests(),
    subscriptions: () => state.subscriptions(),
    violations: () => state.violations(),
    reset: () => state.reset(),
  };
}
