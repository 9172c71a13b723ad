import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

/**
 * Runs the benchmarks named on the command line (all when none is named), prints their
 * figures and writes bench/results/<name>.json with the machine and versions they ran on.
 *
 * Each benchmark is a module bench/<name>.ts exporting
 * `run(log: (line: string) => void): Promise<Record<string, unknown>>`, which returns its figures.
 */
const benchmarks = ['gateway', 'router', 'sender', 'e2e'];

async function main(): Promise<number> {
  const requested = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));
  const names = requested.length > 0 ? requested : benchmarks;
  const unknown = names.filter((name) => !benchmarks.includes(name));
  if (unknown.length > 0) {
    process.stderr.write(
      `unknown benchmark: ${unknown.join(', ')}; choose from ${benchmarks.join(', ')}\n`,
    );
    return 64;
  }
  mkdirSync(join('bench', 'results'), { recursive: true });
  let failed = 0;
  for (const name of names) {
    const log = (line: string) => process.stdout.write(`[${name}] ${line}\n`);
    const started = new Date();
    try {
      const module = (await import(`./${name}.js`)) as {
        run: (log: (line: string) => void) => Promise<Record<string, unknown>>;
      };
      const figures = await module.run(log);
      const result = {
        benchmark: name,
        started_at: started.toISOString(),
        duration_s: Math.round((Date.now() - started.getTime()) / 100) / 10,
        machine: {
          cpu: cpus()[0]?.model ?? 'unknown',
          cores: cpus().length,
          memory_gib: Math.round(totalmem() / 2 ** 30),
          node: process.version,
          platform: `${process.platform}-${process.arch}`,
        },
        figures,
      };
      writeFileSync(
        join('bench', 'results', `${name}.json`),
        `${JSON.stringify(result, null, 2)}\n`,
      );
      log(`figures written to bench/results/${name}.json`);
    } catch (err) {
      failed += 1;
      log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
  }
  return failed === 0 ? 0 : 1;
}

main().then((code) => process.exit(code));
