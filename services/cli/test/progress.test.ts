import { describe, expect, it } from 'vitest';
import type { CliIo } from '../src/io.js';
import { ProgressReporter } from '../src/progress.js';
import { collector } from './helpers.js';

function ioWith(isTTY: boolean) {
  const stderr = collector();
  const stream = Object.assign(stderr.stream, { isTTY });
  const io = { stderr: stream } as unknown as CliIo;
  return { io, text: stderr.text };
}

describe('ProgressReporter', () => {
  it('redraws one bar on a terminal', () => {
    const { io, text } = ioWith(true);
    const progress = new ProgressReporter(io, 'replay');
    progress.update({ done: 50n, total: 200n }, 10);
    progress.finish({ done: 200n, total: 200n }, 42);

    expect(text()).toContain(
      '\rreplay [########......................]  25.0% 50/200 offsets, 10 records written',
    );
    expect(text()).toContain(
      '\rreplay [##############################] 100.0% 200/200 offsets, 42 records written\n',
    );
  });

  it('writes plain lines when stderr is not a terminal', () => {
    const { io, text } = ioWith(false);
    const progress = new ProgressReporter(io, 'audit', 0);
    progress.update({ done: 1n, total: 4n }, 1);
    progress.update({ done: 2n, total: 4n }, 2);
    progress.finish({ done: 4n, total: 4n }, 4);

    expect(text()).not.toContain('\r');
    expect(text().trim().split('\n')).toEqual([
      'audit: 1 of 4 offsets read ( 25.0%), 1 records written',
      'audit: 2 of 4 offsets read ( 50.0%), 2 records written',
      'audit: 4 of 4 offsets read (100.0%), 4 records written',
    ]);
  });
});
