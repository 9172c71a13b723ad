import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    conditions: ['source', 'module', 'node', 'import', 'default'],
  },
  ssr: {
    resolve: {
      conditions: ['source', 'module', 'node', 'import', 'default'],
      externalConditions: ['source'],
    },
  },
  test: {
    include: ['{libs,services,infra,examples}/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['./test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
  },
});
