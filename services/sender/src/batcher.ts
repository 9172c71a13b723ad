/**
 * Group commit: items submitted while earlier flushes run are written together in the next
 * flush. With no load an item is flushed on the next microtask, so batching adds no wait;
 * under load each flush carries everything that queued meanwhile, up to `maxBatch`.
 */
export class Batcher<I, O> {
  private queue: Array<{ item: I; resolve: (output: O) => void; reject: (err: unknown) => void }> =
    [];
  private running = 0;
  private scheduled = false;

  constructor(
    private readonly flush: (items: I[]) => Promise<O[]>,
    private readonly maxBatch = 500,
    private readonly maxConcurrent = 2,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      queueMicrotask(() => {
        this.scheduled = false;
        this.pump();
      });
    });
  }

  private pump(): void {
    while (this.running < this.maxConcurrent && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.running += 1;
      this.flush(batch.map((entry) => entry.item))
        .then(
          (outputs) => {
            for (const [i, entry] of batch.entries()) entry.resolve(outputs[i] as O);
          },
          (err: unknown) => {
            for (const entry of batch) entry.reject(err);
          },
        )
        .finally(() => {
          this.running -= 1;
          this.pump();
        });
    }
  }
}
