/**
 * Classes of Graph API errors; each one maps to one action of the sender:
 * - `retryable`: transient or service error; retry with backoff.
 * - `throttled`: rate limited; pause the account until Meta allows calls again.
 * - `auth`: the access token is invalid or expired; nothing works until it is replaced.
 * - `permission`: a permission is missing; open the account's circuit for a long cool-down.
 * - `blocked`: the account is blocked, restricted or cannot message; like `permission`.
 * - `recipient_permanent`: the recipient cannot be reached; never retry for that recipient.
 * - `window_closed`: outside the allowed messaging window; never retry that message.
 * - `unknown`: anything else; not retried, because the request may have had an effect.
 */
export const graphErrorClasses = [
  'retryable',
  'throttled',
  'auth',
  'permission',
  'blocked',
  'recipient_permanent',
  'window_closed',
  'unknown',
] as const;

export type GraphErrorClass = (typeof graphErrorClasses)[number];

export interface GraphErrorFields {
  /** Graph `error.code`. */
  code?: number | undefined;
  /** Graph `error.error_subcode`. */
  subcode?: number | undefined;
  /** Graph `error.is_transient`, used only for codes this table does not list. */
  isTransient?: boolean | undefined;
  /** HTTP status, used only when the body carries no Graph error code. */
  httpStatus?: number | undefined;
}

const THROTTLE_CODES = new Set([4, 17, 32, 613, 80002, 80006]);

/** Subcodes of code 10 and 200 that are not a missing permission. */
const WINDOW_CLOSED = new Set(['10/2018278', '10/2534022']);
const BLOCKED = new Set(['10/1893063', '100/2534029', '100/2534013', '200/2534041']);
const RECIPIENT_PERMANENT = new Set(['100/2018001', '100/2534014']);

/**
 * Classifies a Graph API error by `code` and `error_subcode`, never by the HTTP status when a
 * code is present. Meta's error table (codes 1-2 transient; 4, 17, 32, 613, 80002, 80006 rate
 * limits; 10 and 200-299 permissions; 190 tokens; 368 policy blocks; 551 unavailable users)
 * with the listed subcode exceptions is the whole rule set. A response without a Graph error
 * body is `retryable` for HTTP 5xx and `unknown` otherwise.
 */
export function classifyGraphError(fields: GraphErrorFields): GraphErrorClass {
  const { code, subcode } = fields;
  if (code === undefined) {
    return fields.httpStatus !== undefined && fields.httpStatus >= 500 ? 'retryable' : 'unknown';
  }

  const pair = `${code}/${subcode ?? ''}`;
  if (WINDOW_CLOSED.has(pair)) return 'window_closed';
  if (BLOCKED.has(pair)) return 'blocked';
  if (RECIPIENT_PERMANENT.has(pair)) return 'recipient_permanent';

  if (code === 1 || code === 2) return 'retryable';
  if (THROTTLE_CODES.has(code)) return 'throttled';
  if (code === 190) return 'auth';
  if (code === 551) return 'recipient_permanent';
  if (code === 368) return 'blocked';
  if (code === 10 || (code >= 200 && code <= 299)) return 'permission';

  return fields.isTransient === true ? 'retryable' : 'unknown';
}
