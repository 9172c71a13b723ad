import { type ParsedCommand, requiredOption, stringOption } from './args.js';
import { validateIgBusinessId } from './store.js';
import { parseDuration, parseTimeRange } from './time.js';

/** Reads `--from`, `--to` (default now) and `--skew` (default 5m) as milliseconds. */
export function timeRangeOptions(parsed: ParsedCommand): {
  fromMs: number;
  toMs: number;
  skewMs: number;
} {
  const { fromMs, toMs } = parseTimeRange(
    requiredOption(parsed, 'from'),
    stringOption(parsed, 'to') ?? 'now',
  );
  const skewMs = parseDuration(stringOption(parsed, 'skew') ?? '5m', '--skew');
  return { fromMs, toMs, skewMs };
}

/** Reads and validates `--account`, or returns undefined when it is not given. */
export function accountOption(parsed: ParsedCommand): string | undefined {
  const text = stringOption(parsed, 'account');
  return text === undefined ? undefined : validateIgBusinessId(text, '--account');
}
