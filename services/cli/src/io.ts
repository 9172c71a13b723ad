/** Streams, environment and cancellation of one `igr` run; tests pass their own. */
export interface CliIo {
  stdin: NodeJS.ReadableStream & {
    isTTY?: boolean;
    setRawMode?: (mode: boolean) => unknown;
  };
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Environment variables; `.stack/env` fills in what is not set here. */
  env: NodeJS.ProcessEnv;
  /** Aborted on Ctrl-C; long-running commands (`tail`, `send --wait`, `replay`) stop on it. */
  signal: AbortSignal;
}

/** Writes text to a stream and resolves once the stream has taken it (honours backpressure). */
export function write(stream: NodeJS.WritableStream, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const flushed = stream.write(text, (err) => {
      if (err) reject(err);
    });
    if (flushed) {
      resolve();
      return;
    }
    stream.once('drain', resolve);
  });
}

/** Writes one line to stdout. */
export function printLine(io: CliIo, line = ''): Promise<void> {
  return write(io.stdout, `${line}\n`);
}

/** Writes a value as pretty-printed JSON to stdout, for `--json`. */
export function printJson(io: CliIo, value: unknown): Promise<void> {
  return write(io.stdout, `${JSON.stringify(value, null, 2)}\n`);
}

/** Writes a note for the operator to stderr, so stdout stays machine-readable. */
export function printNote(io: CliIo, line: string): Promise<void> {
  return write(io.stderr, `${line}\n`);
}

/** Formats rows as a left-aligned text table with a header row. */
export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const render = (cells: string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd();
  return [render(headers), ...rows.map(render)].join('\n');
}
