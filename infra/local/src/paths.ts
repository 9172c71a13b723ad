import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root, found from this file's location (infra/local/src or infra/local/dist). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/**
 * Downloads and builds (Kafka jars, the local-kms binary) live outside the repository, so a
 * clean clone reuses them and nothing large is ever committed.
 */
export const cacheDir = process.env.IGR_CACHE_DIR ?? join(homedir(), '.cache', 'ig-router');

/** Runtime state of the local stack: data directories, logs, pid files and `.stack/env`. */
export const stackDir = process.env.IGR_STACK_DIR ?? join(repoRoot, '.stack');

export const stackEnvFile = join(stackDir, 'env');
export const stackStateFile = join(stackDir, 'state.json');
