/**
 * Delay before retry number `attempt` (1 for the first retry): doubles from `initialMs` up to
 * `maxMs`, with up to 20% random jitter so partitions that failed together do not retry together.
 */
export function retryDelayMs(attempt: number, initialMs: number, maxMs: number): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 30);
  const base = Math.min(initialMs * 2 ** exponent, maxMs);
  return Math.round(base * (0.8 + Math.random() * 0.2));
}
