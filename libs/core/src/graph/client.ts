import { type Dispatcher, Pool } from 'undici';
import type { z } from 'zod';
import { classifyGraphError, type GraphErrorClass } from './classify.js';
import {
  GraphApiError,
  GraphError,
  GraphInvalidResponseError,
  GraphNetworkError,
} from './errors.js';
import {
  type DebugTokenInfo,
  debugTokenResponseSchema,
  graphErrorBodySchema,
  type InstagramAccount,
  instagramAccountSchema,
  type PageInstagramAccount,
  pageInstagramAccountSchema,
  type SendApiRequest,
  type SendApiResponse,
  sendApiResponseSchema,
  subscribeResponseSchema,
} from './schemas.js';
import { type GraphUsage, parseUsageHeaders } from './usage.js';

export const DEFAULT_GRAPH_API_URL = 'https://graph.facebook.com';
export const DEFAULT_GRAPH_API_VERSION = 'v23.0';

/** One finished Graph call, for metrics. Carries no URL and no token. */
export interface GraphCallEvent {
  operation: string;
  durationMs: number;
  httpStatus?: number | undefined;
  outcome: 'ok' | GraphErrorClass;
}

export interface GraphClientOptions {
  /** Scheme, host and optional path prefix, such as https://graph.facebook.com. */
  baseUrl?: string;
  /** Graph API version such as v23.0. */
  version?: string;
  /** Maximum time for one request, from queueing to the last body byte, in milliseconds. */
  timeoutMs?: number;
  /** Maximum open keep-alive connections to the Graph host. */
  connections?: number;
  /** Time an idle keep-alive connection stays open, in milliseconds. */
  keepAliveTimeoutMs?: number;
  /** Largest response body read, in bytes; longer bodies fail the call. */
  maxResponseBytes?: number;
  /** Called after every call, successful or not. */
  onCall?: (event: GraphCallEvent) => void;
  /**
   * Dispatcher to send requests through instead of the client's own keep-alive pool, for
   * tests; it must target the origin of `baseUrl`. `close()` leaves it open.
   */
  dispatcher?: Dispatcher;
}

export interface GraphResponse<T> {
  data: T;
  httpStatus: number;
  usage: GraphUsage;
}

export interface SendOptions {
  /** Sent as the `x-command-id` header, so logs of a proxy or the simulator can match sends. */
  commandId?: string | undefined;
}

interface RawResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

interface RequestSpec {
  method: 'GET' | 'POST';
  /** Path template for errors and metrics, such as `POST /{ig_business_id}/messages`. */
  operation: string;
  path: string;
  query?: Record<string, string> | undefined;
  token: string;
  /** Further secrets of this request (such as an inspected token) to scrub from messages. */
  secrets?: string[] | undefined;
  body?: unknown;
  headers?: Record<string, string> | undefined;
}

/**
 * The subset of undici's legacy dispatch handler used here. Only that interface reports
 * `onRequestSent`, which separates a request that never left the process from one that Meta
 * may have received.
 */
interface LegacyDispatchHandler {
  onConnect(abort: (err?: Error) => void): void;
  onError(err: Error): void;
  onRequestSent(): void;
  onHeaders(statusCode: number, headers: Buffer[], resume: () => void, statusText: string): boolean;
  onData(chunk: Buffer): boolean;
  onComplete(trailers: string[] | null): void;
}

class RequestTimeout extends Error {}

class ResponseTooLarge extends Error {}

/** Replaces every occurrence of the given secrets in `text` with `[redacted]`. */
export function scrubSecrets(text: string, secrets: Array<string | undefined>): string {
  let scrubbed = text;
  for (const secret of secrets) {
    if (!secret || secret.length < 4) continue;
    scrubbed = scrubbed.split(secret).join('[redacted]');
  }
  return scrubbed;
}

/**
 * Graph API client with a keep-alive connection pool. Tokens travel only in the
 * `Authorization: Bearer` header, except the inspected token of `debugToken`, which Meta takes in
 * the query string. No URL appears in an error message or a call event.
 */
export class GraphClient {
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly origin: string;
  private readonly basePath: string;
  private readonly version: string;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly onCall: ((event: GraphCallEvent) => void) | undefined;

  constructor(options: GraphClientOptions = {}) {
    const base = new URL(options.baseUrl ?? DEFAULT_GRAPH_API_URL);
    this.origin = base.origin;
    this.basePath = base.pathname.replace(/\/+$/, '');
    this.version = options.version ?? DEFAULT_GRAPH_API_VERSION;
    if (!/^v\d+\.\d+$/.test(this.version)) {
      throw new TypeError(
        `invalid Graph API version "${this.version}"; expected a form such as v23.0`,
      );
    }
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.maxResponseBytes = options.maxResponseBytes ?? 1024 * 1024;
    this.onCall = options.onCall;
    this.ownsDispatcher = options.dispatcher === undefined;
    this.dispatcher =
      options.dispatcher ??
      new Pool(base.origin, {
        connections: options.connections ?? 128,
        pipelining: 1,
        keepAliveTimeout: options.keepAliveTimeoutMs ?? 30_000,
        connectTimeout: Math.min(this.timeoutMs, 10_000),
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
  }

  /** Sends a message, a private reply or a sender action with the account's Page access token. */
  sendMessage(
    igBusinessId: string,
    token: string,
    body: SendApiRequest,
    options: SendOptions = {},
  ): Promise<GraphResponse<SendApiResponse>> {
    return this.call(
      {
        method: 'POST',
        operation: 'POST /{ig_business_id}/messages',
        path: `/${encodeURIComponent(igBusinessId)}/messages`,
        token,
        body,
        headers: options.commandId ? { 'x-command-id': options.commandId } : undefined,
      },
      sendApiResponseSchema,
    );
  }

  /** Returns the Instagram professional account linked to the Page whose token is given. */
  async getInstagramAccountForPage(token: string): Promise<GraphResponse<PageInstagramAccount>> {
    const response = await this.call(
      {
        method: 'GET',
        operation: 'GET /me?fields=instagram_business_account',
        path: '/me',
        query: { fields: 'instagram_business_account' },
        token,
      },
      pageInstagramAccountSchema,
    );
    return {
      ...response,
      data: {
        page_id: response.data.id,
        ig_business_id: response.data.instagram_business_account?.id ?? null,
      },
    };
  }

  /** Reads `id` and `username` of an Instagram professional account, proving the token can. */
  getAccount(igBusinessId: string, token: string): Promise<GraphResponse<InstagramAccount>> {
    return this.call(
      {
        method: 'GET',
        operation: 'GET /{ig_business_id}?fields=id,username',
        path: `/${encodeURIComponent(igBusinessId)}`,
        query: { fields: 'id,username' },
        token,
      },
      instagramAccountSchema,
    );
  }

  /** Subscribes the Page to the app's webhooks for the given fields, such as `messages`. */
  async subscribePage(
    pageId: string,
    token: string,
    fields: string[],
  ): Promise<GraphResponse<{ success: boolean }>> {
    return this.call(
      {
        method: 'POST',
        operation: 'POST /{page_id}/subscribed_apps',
        path: `/${encodeURIComponent(pageId)}/subscribed_apps`,
        query: { subscribed_fields: fields.join(',') },
        token,
      },
      subscribeResponseSchema,
    );
  }

  /**
   * Inspects a token with an app token. Meta takes the inspected token only as the
   * `input_token` query parameter, so this URL is never logged and both tokens are scrubbed from
   * every error message.
   */
  async debugToken(inputToken: string, appToken: string): Promise<GraphResponse<DebugTokenInfo>> {
    const response = await this.call(
      {
        method: 'GET',
        operation: 'GET /debug_token',
        path: '/debug_token',
        query: { input_token: inputToken },
        token: appToken,
        secrets: [inputToken],
      },
      debugTokenResponseSchema,
    );
    return { ...response, data: response.data.data };
  }

  /** Closes the connection pool after in-flight requests finish. */
  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }

  private async call<S extends z.ZodType>(
    spec: RequestSpec,
    schema: S,
  ): Promise<GraphResponse<z.output<S>>> {
    const started = performance.now();
    let httpStatus: number | undefined;
    try {
      const raw = await this.request(spec);
      httpStatus = raw.statusCode;
      const result = this.parseResponse(spec, raw, schema);
      this.report(spec.operation, started, httpStatus, 'ok');
      return result;
    } catch (err) {
      const outcome = err instanceof GraphError ? err.classification : 'unknown';
      this.report(spec.operation, started, httpStatus, outcome);
      throw err;
    }
  }

  private report(
    operation: string,
    started: number,
    httpStatus: number | undefined,
    outcome: GraphCallEvent['outcome'],
  ): void {
    if (!this.onCall) return;
    this.onCall({ operation, durationMs: performance.now() - started, httpStatus, outcome });
  }

  private parseResponse<S extends z.ZodType>(
    spec: RequestSpec,
    raw: RawResponse,
    schema: S,
  ): GraphResponse<z.output<S>> {
    const usage = parseUsageHeaders(raw.headers);
    const secrets = [spec.token, ...(spec.secrets ?? [])];
    let json: unknown;
    try {
      json = raw.body.length === 0 ? undefined : JSON.parse(raw.body.toString('utf8'));
    } catch {
      json = undefined;
    }

    const hasErrorKey = typeof json === 'object' && json !== null && 'error' in json;
    const errorBody = hasErrorKey ? graphErrorBodySchema.safeParse(json) : undefined;
    if (errorBody?.success || raw.statusCode < 200 || raw.statusCode >= 300) {
      const error = errorBody?.success ? errorBody.data.error : undefined;
      throw new GraphApiError({
        operation: spec.operation,
        httpStatus: raw.statusCode,
        graphCode: error?.code,
        graphSubcode: error?.error_subcode,
        graphType: error?.type,
        graphMessage: error?.message ? scrubSecrets(error.message, secrets) : undefined,
        fbtraceId: error?.fbtrace_id,
        isTransient: error?.is_transient,
        classification: classifyGraphError({
          code: error?.code,
          subcode: error?.error_subcode,
          isTransient: error?.is_transient,
          httpStatus: raw.statusCode,
        }),
        usage,
      });
    }

    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const reason = parsed.error.issues
        .slice(0, 3)
        .map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`)
        .join('; ');
      throw new GraphInvalidResponseError(spec.operation, raw.statusCode, reason);
    }
    return { data: parsed.data, httpStatus: raw.statusCode, usage };
  }

  private buildPath(spec: RequestSpec): string {
    const query = spec.query ? `?${new URLSearchParams(spec.query).toString()}` : '';
    return `${this.basePath}/${this.version}${spec.path}${query}`;
  }

  /**
   * Dispatches one request on the pool. The timer covers waiting for a connection, so a request
   * that times out while queued is reported as not sent and can safely be repeated.
   */
  private request(spec: RequestSpec): Promise<RawResponse> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${spec.token}`,
      accept: 'application/json',
      'user-agent': 'ig-router',
      ...spec.headers,
    };
    let body: string | undefined;
    if (spec.body !== undefined) {
      body = JSON.stringify(spec.body);
      headers['content-type'] = 'application/json';
    }
    const secrets = [spec.token, ...(spec.secrets ?? [])];

    return new Promise<RawResponse>((resolve, reject) => {
      let abortRequest: ((err?: Error) => void) | undefined;
      let requestSent = false;
      let settled = false;
      let statusCode = 0;
      let rawHeaders: Buffer[] = [];
      const chunks: Buffer[] = [];
      let received = 0;

      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err instanceof ResponseTooLarge) {
          reject(
            new GraphInvalidResponseError(
              spec.operation,
              statusCode,
              `body longer than ${this.maxResponseBytes} bytes`,
            ),
          );
          return;
        }
        const code = (err as { code?: unknown }).code;
        reject(
          new GraphNetworkError({
            operation: spec.operation,
            timedOut: err instanceof RequestTimeout,
            requestSent,
            timeoutMs: this.timeoutMs,
            causeCode: typeof code === 'string' ? code : err.name,
            causeMessage:
              err instanceof RequestTimeout ? undefined : scrubSecrets(err.message, secrets),
          }),
        );
      };

      const timer = setTimeout(() => {
        const timeout = new RequestTimeout('request timed out');
        if (abortRequest) abortRequest(timeout);
        // A request still queued in the pool is aborted in onConnect, before any byte is written.
        fail(timeout);
      }, this.timeoutMs);

      const handler: LegacyDispatchHandler = {
        onConnect: (abort) => {
          if (settled) {
            abort(new RequestTimeout('request timed out while queued'));
            return;
          }
          abortRequest = abort;
        },
        onRequestSent: () => {
          requestSent = true;
        },
        onHeaders: (status, headerList) => {
          statusCode = status;
          rawHeaders = headerList;
          return true;
        },
        onData: (chunk) => {
          received += chunk.length;
          if (received > this.maxResponseBytes) {
            abortRequest?.(new ResponseTooLarge());
            return false;
          }
          chunks.push(chunk);
          return true;
        },
        onComplete: () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ statusCode, headers: headersFromRaw(rawHeaders), body: Buffer.concat(chunks) });
        },
        onError: (err) => fail(err),
      };

      this.dispatcher.dispatch(
        { origin: this.origin, method: spec.method, path: this.buildPath(spec), headers, body },
        handler as unknown as Dispatcher.DispatchHandler,
      );
    });
  }
}

function headersFromRaw(raw: Buffer[]): Record<string, string | string[] | undefined> {
  const headers: Record<string, string | string[] | undefined> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as Buffer).toString('latin1').toLowerCase();
    const value = (raw[i + 1] as Buffer).toString('latin1');
    const existing = headers[name];
    if (existing === undefined) headers[name] = value;
    else headers[name] = Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  return headers;
}
