#!/usr/bin/env node
// Launcher of `igr`: runs the compiled dist/main.js when it exists (after `npm run build`),
// otherwise the TypeScript sources through tsx, with the `source` export condition so that
// @ig-router/core resolves to its sources too.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const compiled = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const source = fileURLToPath(new URL('../src/main.ts', import.meta.url));

if (existsSync(compiled)) {
  const { main } = await import(compiled);
  await main(process.argv.slice(2));
} else {
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', source, ...process.argv.slice(2)],
    { stdio: 'inherit' },
  );
  // Ctrl-C reaches the child through the terminal's process group; the launcher waits for the
  // child to stop and exits with its code.
  const ignore = () => {};
  process.on('SIGINT', ignore);
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  child.on('exit', (code, signal) => {
    process.exit(code ?? (signal === 'SIGINT' ? 130 : 1));
  });
}
