/** Percentages of the app's hourly quota, from `X-App-Usage`. */
export interface AppUsage {
  call_count: number;
  total_cputime: number;
  total_time: number;
}

/** One entry of `X-Business-Use-Case-Usage`. Percentages, except the regain time. */
export interface BusinessUseCaseUsage {
  business_id: string;
  type: string;
  call_count: number;
  total_cputime: number;
  total_time: number;
  /** Minutes until Meta accepts calls again; 0 when not throttled. */
  estimated_time_to_regain_access: number;
}

/** Usage figures Meta returns in response headers, parsed. */
export interface GraphUsage {
  app?: AppUsage | undefined;
  businessUseCase: BusinessUseCaseUsage[];
  /** Highest percentage across every parsed figure; undefined when no header was present. */
  maxPercent?: number | undefined;
  /** Longest `estimated_time_to_regain_access`, in milliseconds; undefined when absent or 0. */
  regainAccessMs?: number | undefined;
}

/** Reads a percentage; Meta documents numbers, and some proxies send numeric strings. */
function percent(value: unknown): number {
  const number = typeof value === 'string' ? Number(value) : value;
  return typeof number === 'number' && Number.isFinite(number) && number >= 0 ? number : 0;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

type HeaderValue = string | string[] | undefined;

function headerText(headers: Record<string, HeaderValue>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== wanted) continue;
    return Array.isArray(value) ? value[0] : value;
  }
  return undefined;
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined || text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Parses `X-App-Usage` and `X-Business-Use-Case-Usage`. A missing or malformed header yields no
 * figures rather than an error, because a usage header must never fail a send.
 */
export function parseUsageHeaders(headers: Record<string, HeaderValue>): GraphUsage {
  const usage: GraphUsage = { businessUseCase: [] };
  const percents: number[] = [];

  const app = parseJson(headerText(headers, 'x-app-usage'));
  if (isRecord(app)) {
    usage.app = {
      call_count: percent(app.call_count),
      total_cputime: percent(app.total_cputime),
      total_time: percent(app.total_time),
    };
    percents.push(usage.app.call_count, usage.app.total_cputime, usage.app.total_time);
  }

  const business = parseJson(headerText(headers, 'x-business-use-case-usage'));
  if (isRecord(business)) {
    let regainMinutes = 0;
    for (const [businessId, entries] of Object.entries(business)) {
      if (!Array.isArray(entries)) continue;
      for (const entry of entries) {
        if (!isRecord(entry)) continue;
        const parsed: BusinessUseCaseUsage = {
          business_id: businessId,
          type: typeof entry.type === 'string' ? entry.type : 'unknown',
          call_count: percent(entry.call_count),
          total_cputime: percent(entry.total_cputime),
          total_time: percent(entry.total_time),
          estimated_time_to_regain_access: percent(entry.estimated_time_to_regain_access),
        };
        usage.businessUseCase.push(parsed);
        percents.push(parsed.call_count, parsed.total_cputime, parsed.total_time);
        regainMinutes = Math.max(regainMinutes, parsed.estimated_time_to_regain_access);
      }
    }
    if (regainMinutes > 0) usage.regainAccessMs = Math.round(regainMinutes * 60_000);
  }

  if (percents.length > 0) usage.maxPercent = Math.max(...percents);
  return usage;
}
