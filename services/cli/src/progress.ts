import type { CliIo } from './io.js';
import type { ReadProgress } from './kafka-read.js';

const BAR_WIDTH = 30;

/**
 * Reports read progress on stderr: a redrawn bar when stderr is a terminal, otherwise one plain
 * line every `intervalMs` milliseconds, so logs of scheduled runs stay readable.
 */
export class ProgressReporter {
  private lastLineAt: number | undefined;
  private lastDrawAt = 0;

  constructor(
    private readonly io: CliIo,
    private readonly label: string,
    private readonly intervalMs = 5_000,
    /** Label of the count printed after the offsets, such as `records written`. */
    private readonly countLabel = 'records written',
  ) {}

  update(progress: ReadProgress, records: number): void {
    const now = Date.now();
    if (this.io.stderr.isTTY) {
      // Redraw at most 10 times a second; the final state is drawn by finish().
      if (now - this.lastDrawAt < 100) return;
      this.lastDrawAt = now;
      this.io.stderr.write(`\r${this.bar(progress, records)}`);
      return;
    }
    // The first line waits one interval, so short reads print only the final line.
    this.lastLineAt ??= now;
    if (now - this.lastLineAt < this.intervalMs) return;
    this.lastLineAt = now;
    this.io.stderr.write(`${this.line(progress, records)}\n`);
  }

  finish(progress: ReadProgress, records: number): void {
    if (this.io.stderr.isTTY) {
      this.io.stderr.write(`\r${this.bar(progress, records)}\n`);
    } else {
      this.io.stderr.write(`${this.line(progress, records)}\n`);
    }
  }

  private bar(progress: ReadProgress, records: number): string {
    const ratio = fraction(progress);
    const filled = Math.round(ratio * BAR_WIDTH);
    const bar = `${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}`;
    return `${this.label} [${bar}] ${percent(ratio)} ${progress.done}/${progress.total} offsets, ${records} ${this.countLabel}`;
  }

  private line(progress: ReadProgress, records: number): string {
    return `${this.label}: ${progress.done} of ${progress.total} offsets read (${percent(fraction(progress))}), ${records} ${this.countLabel}`;
  }
}

function fraction(progress: ReadProgress): number {
  if (progress.total === 0n) return 1;
  return Number((progress.done * 10_000n) / progress.total) / 10_000;
}

function percent(ratio: number): string {
  return `${(ratio * 100).toFixed(1).padStart(5)}%`;
}
