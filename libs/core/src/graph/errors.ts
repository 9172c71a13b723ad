import { IgRouterError } from '../errors.js';
import type { GraphErrorClass } from './classify.js';
import type { GraphUsage } from './usage.js';

/** Stable codes of the errors the Graph client raises. */
export const GraphErrorCodes = {
  GRAPH_TRANSIENT: 'GRAPH_TRANSIENT',
  GRAPH_RATE_LIMITED: 'GRAPH_RATE_LIMITED',
  GRAPH_TOKEN_INVALID: 'GRAPH_TOKEN_INVALID',
  GRAPH_PERMISSION_DENIED: 'GRAPH_PERMISSION_DENIED',
  GRAPH_ACCOUNT_BLOCKED: 'GRAPH_ACCOUNT_BLOCKED',
  GRAPH_RECIPIENT_UNAVAILABLE: 'GRAPH_RECIPIENT_UNAVAILABLE',
  GRAPH_WINDOW_CLOSED: 'GRAPH_WINDOW_CLOSED',
  GRAPH_ERROR: 'GRAPH_ERROR',
  GRAPH_TIMEOUT: 'GRAPH_TIMEOUT',
  GRAPH_NETWORK_ERROR: 'GRAPH_NETWORK_ERROR',
  GRAPH_INVALID_RESPONSE: 'GRAPH_INVALID_RESPONSE',
} as const;

export type GraphErrorCode = (typeof GraphErrorCodes)[keyof typeof GraphErrorCodes];

const codeByClass: Record<GraphErrorClass, GraphErrorCode> = {
  retryable: GraphErrorCodes.GRAPH_TRANSIENT,
  throttled: GraphErrorCodes.GRAPH_RATE_LIMITED,
  auth: GraphErrorCodes.GRAPH_TOKEN_INVALID,
  permission: GraphErrorCodes.GRAPH_PERMISSION_DENIED,
  blocked: GraphErrorCodes.GRAPH_ACCOUNT_BLOCKED,
  recipient_permanent: GraphErrorCodes.GRAPH_RECIPIENT_UNAVAILABLE,
  window_closed: GraphErrorCodes.GRAPH_WINDOW_CLOSED,
  unknown: GraphErrorCodes.GRAPH_ERROR,
};

/** Base of every Graph client error; `classification` decides what the caller does next. */
export abstract class GraphError extends IgRouterError {
  abstract readonly classification: GraphErrorClass;
  /**
   * Whether Meta may have received the request. False only when no byte of it was written,
   * so repeating the request cannot produce a duplicate.
   */
  abstract readonly requestMayHaveReachedMeta: boolean;
  /** The operation as a path template, never the URL (which may carry a token). */
  readonly operation: string;

  constructor(code: string, operation: string, message: string) {
    super(code, message);
    this.operation = operation;
  }
}

export interface GraphApiErrorDetails {
  operation: string;
  httpStatus: number;
  graphCode?: number | undefined;
  graphSubcode?: number | undefined;
  graphType?: string | undefined;
  graphMessage?: string | undefined;
  fbtraceId?: string | undefined;
  isTransient?: boolean | undefined;
  classification: GraphErrorClass;
  usage: GraphUsage;
}

/** Meta returned an error (a Graph error body, or a non-2xx status without one). */
export class GraphApiError extends GraphError {
  readonly classification: GraphErrorClass;
  readonly requestMayHaveReachedMeta = true;
  readonly httpStatus: number;
  readonly graphCode: number | undefined;
  readonly graphSubcode: number | undefined;
  readonly graphType: string | undefined;
  /** Meta's `error.message`, with the request's tokens removed. */
  readonly graphMessage: string | undefined;
  readonly fbtraceId: string | undefined;
  readonly isTransient: boolean | undefined;
  readonly usage: GraphUsage;

  constructor(details: GraphApiErrorDetails) {
    const codeText =
      details.graphCode === undefined
        ? `HTTP ${details.httpStatus} without a Graph error body`
        : `code ${details.graphCode}${details.graphSubcode === undefined ? '' : `/${details.graphSubcode}`}`;
    const reason = details.graphMessage ? `: ${details.graphMessage}` : '';
    super(
      codeByClass[details.classification],
      details.operation,
      `Graph API ${details.operation} failed with ${codeText} (${details.classification})${reason}`,
    );
    this.name = 'GraphApiError';
    this.classification = details.classification;
    this.httpStatus = details.httpStatus;
    this.graphCode = details.graphCode;
    this.graphSubcode = details.graphSubcode;
    this.graphType = details.graphType;
    this.graphMessage = details.graphMessage;
    this.fbtraceId = details.fbtraceId;
    this.isTransient = details.isTransient;
    this.usage = details.usage;
  }
}

/**
 * The request failed without a response: connection refused, reset, or timed out.
 * `requestSent` is true once the request was written to the socket. Before that point the error
 * is `retryable`. After it, Meta may have acted on the request, so the error is `unknown`.
 */
export class GraphNetworkError extends GraphError {
  readonly classification: GraphErrorClass;
  readonly requestMayHaveReachedMeta: boolean;
  readonly requestSent: boolean;
  /** The underlying error's code (such as ECONNREFUSED or UND_ERR_SOCKET), when it had one. */
  readonly causeCode: string | undefined;

  constructor(options: {
    operation: string;
    timedOut: boolean;
    requestSent: boolean;
    timeoutMs?: number | undefined;
    causeCode?: string | undefined;
    causeMessage?: string | undefined;
  }) {
    const when = options.requestSent ? 'after the request was sent' : 'before the request was sent';
    const what = options.timedOut
      ? `timed out after ${options.timeoutMs} ms ${when}`
      : `failed ${when}: ${options.causeCode ?? 'network error'}${options.causeMessage ? ` (${options.causeMessage})` : ''}`;
    super(
      options.timedOut ? GraphErrorCodes.GRAPH_TIMEOUT : GraphErrorCodes.GRAPH_NETWORK_ERROR,
      options.operation,
      `Graph API ${options.operation} ${what}`,
    );
    this.name = 'GraphNetworkError';
    this.requestSent = options.requestSent;
    this.requestMayHaveReachedMeta = options.requestSent;
    this.classification = options.requestSent ? 'unknown' : 'retryable';
    this.causeCode = options.causeCode;
  }
}

/** Meta returned 2xx with a body that does not match the documented response. */
export class GraphInvalidResponseError extends GraphError {
  readonly classification: GraphErrorClass = 'unknown';
  readonly requestMayHaveReachedMeta = true;
  readonly httpStatus: number;

  constructor(operation: string, httpStatus: number, reason: string) {
    super(
      GraphErrorCodes.GRAPH_INVALID_RESPONSE,
      operation,
      `Graph API ${operation} returned HTTP ${httpStatus} with an unexpected body: ${reason}`,
    );
    this.name = 'GraphInvalidResponseError';
    this.httpStatus = httpStatus;
  }
}
