import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { findStackEnvFile, parseDotenv } from '@ig-router/core';

/** `app_id` of the Graph API simulator that `npm start` runs (libs/testkit/src/graph-sim). */
export const SIMULATOR_APP_ID = '100000000000001';

/**
 * While a local `npm start` runs, fills its settings into the environment where they are not
 * set, so `igr` run next to it talks to its Graph API simulator instead of graph.facebook.com, and
 * finds its local app secret:
 * - GRAPH_API_URL (and META_APP_ID) from `.stack/pipeline.json` while that npm start runs with
 *   the simulator;
 * - META_APP_SECRET from `.stack/meta-app.env`, when npm start signs with that local secret.
 * Returns the environment and a notice for stderr when the simulator was picked.
 */
export function withLocalPipeline(env: NodeJS.ProcessEnv): {
  env: NodeJS.ProcessEnv;
  notice?: string;
} {
  const stackEnvFile = findStackEnvFile(process.cwd(), env);
  if (!stackEnvFile) return { env };
  const stackDir = dirname(stackEnvFile);
  const filled: NodeJS.ProcessEnv = { ...env };
  let notice: string | undefined;

  // Only beside a running npm start: otherwise igr keeps to its own variables and defaults.
  const pipeline = readPipeline(join(stackDir, 'pipeline.json'));
  if (!pipeline) return { env };
  if (!env.GRAPH_API_URL && pipeline.graph_simulator && pipeline.graph_api_url) {
    filled.GRAPH_API_URL = pipeline.graph_api_url;
    filled.META_APP_ID ??= SIMULATOR_APP_ID;
    notice = `GRAPH_API_URL is not set: using the Graph API simulator of npm start (pid ${pipeline.pid}) at ${pipeline.graph_api_url}`;
  }

  // npm start given META_APP_SECRET signs with that one, which igr cannot know.
  const metaAppFile = join(stackDir, 'meta-app.env');
  if (
    !env.META_APP_SECRET &&
    pipeline.app_secret_source !== 'environment' &&
    existsSync(metaAppFile)
  ) {
    const local = parseDotenv(readFileSync(metaAppFile, 'utf8'));
    if (local.META_APP_SECRET) filled.META_APP_SECRET = local.META_APP_SECRET;
  }
  return { env: filled, notice };
}

interface PipelineFile {
  pid: number;
  graph_api_url?: string;
  graph_simulator?: boolean;
  /** Source of the META_APP_SECRET npm start signs with. */
  app_secret_source?: 'environment' | 'local';
}

/** Reads the pipeline file of a running npm start; undefined when none runs. */
function readPipeline(file: string): PipelineFile | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const pipeline = JSON.parse(readFileSync(file, 'utf8')) as PipelineFile;
    if (typeof pipeline.pid !== 'number') return undefined;
    process.kill(pipeline.pid, 0);
    return pipeline;
  } catch {
    return undefined;
  }
}
