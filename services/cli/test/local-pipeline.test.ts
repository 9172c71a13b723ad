import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SIMULATOR_APP_ID, withLocalPipeline } from '../src/local-pipeline.js';

describe('withLocalPipeline', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'igr-local-'));
    mkdirSync(join(dir, '.stack'));
    writeFileSync(join(dir, '.stack', 'env'), 'KAFKA_BROKERS=127.0.0.1:9092\n');
    writeFileSync(join(dir, '.stack', 'meta-app.env'), 'META_APP_SECRET=local-secret-1\n');
    env = { IGR_STACK_ENV: join(dir, '.stack', 'env') };
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const writePipeline = (pid: number) =>
    writeFileSync(
      join(dir, '.stack', 'pipeline.json'),
      JSON.stringify({ pid, graph_api_url: 'http://127.0.0.1:4321', graph_simulator: true }),
    );

  it("uses a running npm start's simulator and local app secret", () => {
    writePipeline(process.pid);
    const local = withLocalPipeline(env);
    expect(local.env.GRAPH_API_URL).toBe('http://127.0.0.1:4321');
    expect(local.env.META_APP_ID).toBe(SIMULATOR_APP_ID);
    expect(local.env.META_APP_SECRET).toBe('local-secret-1');
    expect(local.notice).toContain('Graph API simulator of npm start');
    expect(local.notice).not.toContain('local-secret-1');
  });

  it('leaves META_APP_SECRET unset when npm start took it from the environment', () => {
    writeFileSync(
      join(dir, '.stack', 'pipeline.json'),
      JSON.stringify({
        pid: process.pid,
        graph_api_url: 'http://127.0.0.1:4321',
        graph_simulator: true,
        app_secret_source: 'environment',
      }),
    );
    const local = withLocalPipeline(env);
    expect(local.env.GRAPH_API_URL).toBe('http://127.0.0.1:4321');
    expect(local.env.META_APP_SECRET).toBeUndefined();
  });

  it('keeps variables that are set', () => {
    writePipeline(process.pid);
    const local = withLocalPipeline({
      ...env,
      GRAPH_API_URL: 'https://graph.facebook.com',
      META_APP_SECRET: 'mine',
    });
    expect(local.env.GRAPH_API_URL).toBe('https://graph.facebook.com');
    expect(local.env.META_APP_SECRET).toBe('mine');
    expect(local.notice).toBeUndefined();
  });

  it('changes nothing when no npm start runs', () => {
    // A pid above Linux's pid_max is never alive.
    writePipeline(4_194_305);
    expect(withLocalPipeline(env)).toEqual({ env });
    rmSync(join(dir, '.stack', 'pipeline.json'));
    expect(withLocalPipeline(env)).toEqual({ env });
  });
});
