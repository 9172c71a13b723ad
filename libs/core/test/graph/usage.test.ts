import { describe, expect, it } from 'vitest';
import { parseUsageHeaders } from '../../src/index.js';

describe('parseUsageHeaders', () => {
  it('parses X-App-Usage percentages', () => {
    const usage = parseUsageHeaders({
      'x-app-usage': '{"call_count":28,"total_time":25,"total_cputime":12}',
    });
    expect(usage.app).toEqual({ call_count: 28, total_time: 25, total_cputime: 12 });
    expect(usage.maxPercent).toBe(28);
    expect(usage.regainAccessMs).toBeUndefined();
  });

  it('parses X-Business-Use-Case-Usage entries with the regain time in ms', () => {
    const usage = parseUsageHeaders({
      'X-Business-Use-Case-Usage': JSON.stringify({
        '17841400000000001': [
          {
            type: 'instagram',
            call_count: 100,
            total_cputime: 7,
            total_time: 9,
            estimated_time_to_regain_access: 3,
          },
        ],
      }),
    });
    expect(usage.businessUseCase).toEqual([
      {
        business_id: '17841400000000001',
        type: 'instagram',
        call_count: 100,
        total_cputime: 7,
        total_time: 9,
        estimated_time_to_regain_access: 3,
      },
    ]);
    expect(usage.maxPercent).toBe(100);
    expect(usage.regainAccessMs).toBe(180_000);
  });

  it('takes the longest regain time and the highest percentage across entries', () => {
    const usage = parseUsageHeaders({
      'x-business-use-case-usage': JSON.stringify({
        '1': [{ type: 'a', call_count: 10, estimated_time_to_regain_access: 1 }],
        '2': [{ type: 'b', total_time: 91, estimated_time_to_regain_access: 5 }],
      }),
      'x-app-usage': '{"call_count":50}',
    });
    expect(usage.maxPercent).toBe(91);
    expect(usage.regainAccessMs).toBe(300_000);
    expect(usage.app).toEqual({ call_count: 50, total_cputime: 0, total_time: 0 });
  });

  it('accepts numeric strings', () => {
    const usage = parseUsageHeaders({ 'x-app-usage': '{"call_count":"42","total_time":"7"}' });
    expect(usage.app?.call_count).toBe(42);
    expect(usage.maxPercent).toBe(42);
  });

  it('ignores missing and malformed headers', () => {
    expect(parseUsageHeaders({})).toEqual({ businessUseCase: [] });
    const usage = parseUsageHeaders({
      'x-app-usage': 'not json',
      'x-business-use-case-usage': '{"1": "not a list"}',
    });
    expect(usage.app).toBeUndefined();
    expect(usage.businessUseCase).toEqual([]);
    expect(usage.maxPercent).toBeUndefined();
  });

  it('reads the first value of a repeated header', () => {
    const usage = parseUsageHeaders({ 'x-app-usage': ['{"call_count":5}', '{"call_count":99}'] });
    expect(usage.app?.call_count).toBe(5);
  });
});
