import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const source = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run the TypeScript sources of the workspace packages, not their compiled output.
    alias: {
      '@ig-router/core': source('./libs/core/src/index.ts'),
      '@ig-router/testkit': source('./libs/testkit/src/index.ts'),
    },
  },
  test: {
    include: ['{libs,services,infra,examples}/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['./test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
