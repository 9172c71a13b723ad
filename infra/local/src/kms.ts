import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir } from './paths.js';
import { commandExists, run, startDetached } from './processes.js';

/** local-kms revision built with `go install`; pinned so every machine runs the same emulator. */
export const LOCAL_KMS_MODULE = 'github.com/nsmithuk/local-kms';
export const LOCAL_KMS_VERSION = 'v0.0.0-20260228092603-2a5e92d09ab6';

export const LOCAL_KMS_REGION = 'eu-west-2';
export const LOCAL_KMS_KEY_ID = '6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
export const LOCAL_KMS_ALIAS = 'alias/ig-router-local';

export function localKmsBinary(): string {
  return join(cacheDir, 'bin', `local-kms-${LOCAL_KMS_VERSION}`);
}

/** Builds local-kms once into the cache with the Go toolchain. */
export function ensureLocalKms(log: (line: string) => void): string {
  const binary = localKmsBinary();
  if (existsSync(binary)) return binary;
  if (!commandExists('go', ['version'])) {
    throw new Error(
      'Go is required once, to build the local-kms emulator. Install Go 1.21 or newer, or set AWS_ENDPOINT_URL_KMS and KMS_KEY_ID to an existing KMS (KMS_KEY_ID alone uses AWS KMS).',
    );
  }
  log(`building local-kms ${LOCAL_KMS_VERSION} with go install (first run only)`);
  const gobin = join(cacheDir, 'gobin');
  mkdirSync(gobin, { recursive: true });
  run('go', ['install', `${LOCAL_KMS_MODULE}@${LOCAL_KMS_VERSION}`], {
    ...process.env,
    GOBIN: gobin,
    GOFLAGS: '-mod=mod',
  });
  mkdirSync(join(cacheDir, 'bin'), { recursive: true });
  run('mv', [join(gobin, 'local-kms'), binary]);
  return binary;
}

/**
 * Seed of the emulator: one symmetric key with a fixed backing key and an alias. The backing key
 * is a published test value, so data encrypted by the local stack is never secret.
 */
function seedYaml(): string {
  return `Keys:
  Symmetric:
    Aes:
      - Metadata:
          KeyId: ${LOCAL_KMS_KEY_ID}
        BackingKeys:
          - 7a7c0a6a3b0f5c1f6e1d8b2a9c4e3f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4
Aliases:
  - AliasName: ${LOCAL_KMS_ALIAS}
    TargetKeyId: ${LOCAL_KMS_KEY_ID}
`;
}

export interface KmsInstance {
  pid: number;
  port: number;
  dataDir: string;
  logFile: string;
}

// TODO: local-kms binds every interface (its PORT variable takes a port only), not 127.0.0.1
// alone; its key is a published test key, so nothing it protects is secret.
export function startLocalKms(baseDir: string, port: number): KmsInstance {
  const binary = localKmsBinary();
  const dataDir = join(baseDir, 'kms');
  mkdirSync(join(dataDir, 'data'), { recursive: true });
  const seedFile = join(dataDir, 'seed.yaml');
  writeFileSync(seedFile, seedYaml());
  const logFile = join(dataDir, 'server.log');
  const child = startDetached(binary, [], {
    logFile,
    env: {
      ...process.env,
      PORT: String(port),
      KMS_REGION: LOCAL_KMS_REGION,
      KMS_ACCOUNT_ID: '111122223333',
      KMS_SEED_PATH: seedFile,
      KMS_DATA_PATH: join(dataDir, 'data'),
    },
  });
  return { pid: child.pid, port, dataDir, logFile };
}
