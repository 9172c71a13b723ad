import { UsageError } from './errors.js';

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/;
const RELATIVE = /^([+-])(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/;
// A date alone, or a date and time with optional seconds and fractions. A time needs a zone,
// so the same argument means the same instant on every operator's machine.
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
const ISO_DATE_TIME =
  /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/;

/**
 * Parses a duration such as `500ms`, `30s`, `5m`, `1h`, `2d` or `1w` into milliseconds.
 * `option` names the option in the error message.
 */
export function parseDuration(text: string, option: string): number {
  const match = DURATION.exec(text.trim());
  if (!match) {
    throw new UsageError(
      `${option} ${JSON.stringify(text)} is invalid; expected a duration such as 30s, 5m, 1h or 2d.`,
    );
  }
  return Math.round(Number(match[1]) * (UNIT_MS[match[2] ?? 'ms'] ?? 1));
}

/**
 * Parses a point in time: `now`, a time relative to now such as `-1h`, `-30m` or `-2d`, an
 * ISO-8601 date (`2024-05-01`, midnight UTC) or an ISO-8601 date and time with a zone
 * (`2024-05-01T12:00:00Z`, `2024-05-01T14:00+02:00`). Returns epoch milliseconds.
 */
export function parseTime(text: string, option: string, nowMs: number = Date.now()): number {
  const value = text.trim();
  if (value === 'now') return nowMs;

  const relative = RELATIVE.exec(value);
  if (relative) {
    const amount = Math.round(Number(relative[2]) * (UNIT_MS[relative[3] ?? 'ms'] ?? 1));
    return relative[1] === '-' ? nowMs - amount : nowMs + amount;
  }

  if (ISO_DATE.test(value) || ISO_DATE_TIME.test(value)) {
    const ms = Date.parse(ISO_DATE.test(value) ? `${value}T00:00:00Z` : value);
    if (Number.isFinite(ms)) return ms;
  }
  throw new UsageError(
    `${option} ${JSON.stringify(text)} is invalid; expected now, a relative time such as -1h, -30m or -2d, or an ISO-8601 time with a zone such as 2024-05-01T12:00:00Z.`,
  );
}

/** Parses `--from` and `--to`, and checks that the range is not empty. */
export function parseTimeRange(
  fromText: string,
  toText: string,
  nowMs: number = Date.now(),
): { fromMs: number; toMs: number } {
  const fromMs = parseTime(fromText, '--from', nowMs);
  const toMs = parseTime(toText, '--to', nowMs);
  if (toMs <= fromMs) {
    throw new UsageError(
      `--to ${new Date(toMs).toISOString()} is not after --from ${new Date(fromMs).toISOString()}; give a later --to.`,
    );
  }
  return { fromMs, toMs };
}
