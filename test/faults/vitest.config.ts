import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const source = (path: string) => fileURLToPath(new URL(path, import.meta.url));

// `npm run test:faults`: the fault suite alone, at full size (the script sets IGR_FAULTS=full).
export default defineConfig({
  resolve: {
    alias: {
      '@ig-router/core': source('../../libs/core/src/index.ts'),
      '@ig-router/testkit': source('../../libs/testkit/src/index.ts'),
    },
  },
  test: {
    root: source('../..'),
    include: ['test/faults/**/*.test.ts'],
    globalSetup: [source('../global-setup.ts')],
    testTimeout: 300_000,
    hookTimeout: 240_000,
    pool: 'forks',
    maxWorkers: 1,
  },
});
