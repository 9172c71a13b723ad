import { describe, expect, it } from 'vitest';
import { newClusterId } from '../src/kafka.js';

describe('newClusterId', () => {
  it('never starts with a dash', () => {
    // One in 64 random ids starts with '-', so 2,000 draws would almost surely include some.
    const ids = Array.from({ length: 2_000 }, () => newClusterId());
    expect(ids.filter((id) => id.startsWith('-'))).toEqual([]);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
  });
});
