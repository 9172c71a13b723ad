import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  databaseEnvSchema,
  kafkaEnvSchema,
  kmsEnvSchema,
  loggingEnvSchema,
  topicsEnvSchema,
} from '@ig-router/core';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import {
  cliAuditAppsSchema,
  cliDatabaseSchema,
  cliGraphSchema,
  cliKafkaSchema,
  cliKmsSchema,
  cliLoggingSchema,
  cliMetaAppSchema,
  cliTopicsSchema,
} from '../../services/cli/src/config.js';
import { gatewayConfigSchema } from '../../services/gateway/src/config.js';
import { routerConfigSchema } from '../../services/router/src/config.js';
import { senderConfigSchema } from '../../services/sender/src/config.js';

// Consistency of docker-compose.yml, the Dockerfile and docs/configuration.md with the zod
// schemas the services parse their environment with. No Docker engine and no stack needed.

const root = resolve(import.meta.dirname, '..', '..');
const readText = (path: string) => readFileSync(join(root, path), 'utf8');

type AnySchema = z.ZodType<Record<string, unknown>>;

/** Keys of a z.object, also behind the ZodPipe that `.superRefine` or `.transform` adds. */
function schemaKeys(schema: unknown): string[] {
  const candidate = schema as { shape?: Record<string, unknown>; def?: { in?: unknown } };
  if (candidate.shape) return Object.keys(candidate.shape);
  if (candidate.def?.in) return schemaKeys(candidate.def.in);
  throw new Error('expected a z.object schema');
}

/** Valid sample values for variables without a default, to learn every other default. */
const sampleValues: Record<string, string> = {
  KAFKA_BROKERS: 'kafka:9092',
  DATABASE_URL: 'postgres://user:password@postgres:5432/igrouter',
  KMS_KEY_ID: 'alias/ig-router-test',
  META_APP_SECRET: 'compose-test-secret',
  META_VERIFY_TOKEN: 'compose-test-verify-token',
  META_APP_ID: '1234567890',
};

type Default = { kind: 'required' } | { kind: 'value'; value: unknown } | { kind: 'unset' };

/** Maps each variable of a schema to what it becomes when it is not set. */
function schemaDefaults(schema: AnySchema): Map<string, Default> {
  const required = new Set<string>();
  const empty = schema.safeParse({});
  if (!empty.success) {
    for (const issue of empty.error.issues) required.add(String(issue.path[0]));
  }
  const env: Record<string, string> = {};
  for (const key of required) {
    const sample = sampleValues[key];
    if (sample === undefined) throw new Error(`no sample value for required variable ${key}`);
    env[key] = sample;
  }
  const parsed = schema.parse(env);

  const defaults = new Map<string, Default>();
  for (const key of schemaKeys(schema)) {
    if (required.has(key)) defaults.set(key, { kind: 'required' });
    else if (parsed[key] === undefined) defaults.set(key, { kind: 'unset' });
    else defaults.set(key, { kind: 'value', value: parsed[key] });
  }
  return defaults;
}

/** Variables named in backticks in the first cell of each table row, per `## ` section. */
function documentedVariables(markdown: string): Map<string, Map<string, string>> {
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('## ')) {
      current = new Map();
      sections.set(line.slice(3).trim(), current);
      continue;
    }
    if (!current || !line.startsWith('|')) continue;
    const cells = line.split('|').map((cell) => cell.trim());
    const names = [...(cells[1] ?? '').matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1] as string);
    for (const name of names) current.set(name, cells[2] ?? '');
  }
  return sections;
}

/** Resolves Compose interpolation: `${VAR:-default}` to its default, `${VAR:?error}` to a sample. */
function interpolate(value: string): string {
  return value
    .replace(/\$\{([A-Z0-9_]+)(?:(:?[-?])([^}]*))?\}/g, (_match, name: string, operator, rest) => {
      if (operator === ':-' || operator === '-') return rest as string;
      if (operator === ':?' || operator === '?') {
        const sample = sampleValues[name];
        if (sample === undefined) throw new Error(`no sample value for ${name}`);
        return sample;
      }
      return '';
    })
    .replace(/\$\$/g, '$');
}

interface ComposeService {
  build?: string | { context?: string; dockerfile?: string };
  image?: string;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string | number | boolean | null>;
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test: string[] | string };
  profiles?: string[];
  restart?: string;
}

/** Builds the environment a container gets when none of the interpolated variables are set. */
function containerEnvironment(service: ComposeService): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(service.environment ?? {})) {
    // A key without a value is taken from the shell, and left unset when the shell has none.
    if (value === null) continue;
    env[key] = interpolate(String(value));
  }
  return env;
}

/** Dependencies of a service, as a map of name to condition. */
function dependencies(service: ComposeService): Map<string, string> {
  const dependsOn = service.depends_on ?? {};
  if (Array.isArray(dependsOn)) return new Map(dependsOn.map((name) => [name, 'service_started']));
  return new Map(Object.entries(dependsOn).map(([name, value]) => [name, value.condition]));
}

const compose = parseYaml(readText('docker-compose.yml'), { merge: true }) as {
  services: Record<string, ComposeService>;
};
const services = compose.services;
const dockerfile = readText('Dockerfile');
const configurationDoc = documentedVariables(readText('docs/configuration.md'));

// The AWS SDK reads AWS credentials from the process environment, so the sender's schema does
// not list them. The CLI's KMS schema does, because the CLI also reads them from `.stack/env`.
const awsCredentialVariables = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'];

const sharedSchemas: AnySchema[] = [
  kafkaEnvSchema,
  databaseEnvSchema,
  kmsEnvSchema,
  loggingEnvSchema,
  topicsEnvSchema,
];
const sharedKeys = new Set([...sharedSchemas.flatMap(schemaKeys), ...awsCredentialVariables]);

const cliSchemas: AnySchema[] = [
  cliLoggingSchema,
  cliDatabaseSchema,
  cliKafkaSchema,
  cliTopicsSchema,
  cliKmsSchema,
  cliGraphSchema,
  cliMetaAppSchema,
  cliAuditAppsSchema,
];

const serviceSchemas = {
  gateway: gatewayConfigSchema as unknown as AnySchema,
  router: routerConfigSchema as unknown as AnySchema,
  sender: senderConfigSchema as unknown as AnySchema,
};

/** Heading of each section of docs/configuration.md. */
const docSections = {
  shared: 'Shared by every service',
  gateway: 'gateway',
  router: 'router',
  sender: 'sender',
  cli: 'igr, the operator CLI',
  autoReply: 'auto-reply example',
  graphSim: 'Graph API simulator',
  local: 'npm start, the local stack and the demo',
} as const;

function section(name: string): Map<string, string> {
  const variables = configurationDoc.get(name);
  if (!variables) throw new Error(`docs/configuration.md has no "## ${name}" section`);
  return variables;
}

/** Upper-case names declared as `NAME: ...` in a source file's env schema. */
function declaredInSource(path: string, prefix: string): string[] {
  const names = [...readText(path).matchAll(/^\s+([A-Z][A-Z0-9_]+): /gm)].map(
    (m) => m[1] as string,
  );
  return names.filter((name) => name.startsWith(prefix));
}

/** Splits the Dockerfile into the instruction lines of each stage, keyed by stage name. */
function dockerfileStages(): Map<string, string[]> {
  const stages = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of dockerfile.split('\n')) {
    const from = /^FROM\s+\S+(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) {
      current = [];
      stages.set(from[1] ?? `stage${stages.size}`, current);
      continue;
    }
    if (current && line.trim() !== '' && !line.trim().startsWith('#')) current.push(line.trim());
  }
  return stages;
}

/** Workspace folders of the root package.json, with its `libs/*` patterns expanded. */
function workspaceFolders(): string[] {
  const rootPackage = JSON.parse(readText('package.json')) as { workspaces: string[] };
  const folders: string[] = [];
  for (const pattern of rootPackage.workspaces) {
    if (!pattern.endsWith('/*')) {
      folders.push(pattern);
      continue;
    }
    const parent = pattern.slice(0, -2);
    for (const entry of readdirSync(join(root, parent), { withFileTypes: true })) {
      if (entry.isDirectory() && existsSync(join(root, parent, entry.name, 'package.json'))) {
        folders.push(`${parent}/${entry.name}`);
      }
    }
  }
  return folders;
}

/** Sources of the `COPY` lines of a stage that copy from the build context. */
function contextCopySources(lines: string[]): string[] {
  return lines
    .filter((line) => /^COPY\s/i.test(line) && !/--from=/i.test(line))
    .flatMap((line) => {
      const parts = line.split(/\s+/).slice(1);
      return parts.slice(0, -1);
    });
}

describe('docker-compose.yml', () => {
  it('sets every required variable of each service', () => {
    for (const [name, schema] of Object.entries(serviceSchemas)) {
      const env = containerEnvironment(services[name] ?? {});
      for (const [key, fallback] of schemaDefaults(schema)) {
        if (fallback.kind !== 'required') continue;
        expect(env[key], `${name}: ${key} is required by its schema`).toBeDefined();
      }
    }
  });

  it('passes each service schema with defaults', () => {
    for (const [name, schema] of Object.entries(serviceSchemas)) {
      const result = schema.safeParse(containerEnvironment(services[name] ?? {}));
      expect(result.error?.issues ?? [], `${name}: the compose environment is invalid`).toEqual([]);
    }
  });

  it('sets only variables the processes read', () => {
    const allowed: Record<string, Set<string>> = {
      gateway: new Set(schemaKeys(gatewayConfigSchema)),
      router: new Set(schemaKeys(routerConfigSchema)),
      sender: new Set([...schemaKeys(senderConfigSchema), ...awsCredentialVariables]),
      igr: new Set(cliSchemas.flatMap(schemaKeys)),
      provision: new Set([
        ...schemaKeys(kafkaEnvSchema),
        ...schemaKeys(topicsEnvSchema),
        ...schemaKeys(databaseEnvSchema),
        ...schemaKeys(loggingEnvSchema),
      ]),
      'graph-sim': new Set([
        ...declaredInSource('libs/testkit/src/graph-sim/main.ts', 'GRAPH_SIM_'),
        'LOG_LEVEL',
      ]),
      'auto-reply': new Set([
        ...declaredInSource('examples/auto-reply/src/main.ts', 'AUTO_REPLY_'),
        ...schemaKeys(kafkaEnvSchema),
        ...schemaKeys(loggingEnvSchema),
      ]),
    };
    for (const [name, keys] of Object.entries(allowed)) {
      const service = services[name];
      expect(service, `service ${name} is missing`).toBeDefined();
      for (const key of Object.keys(service?.environment ?? {})) {
        expect(keys.has(key), `${name}: ${key} is not read by the process`).toBe(true);
      }
    }
  });

  it('passes the CLI schemas with defaults', () => {
    const env = containerEnvironment(services.igr ?? {});
    for (const schema of [cliKafkaSchema, cliDatabaseSchema, cliKmsSchema, cliGraphSchema]) {
      const result = (schema as unknown as AnySchema).safeParse(env);
      expect(result.error?.issues ?? []).toEqual([]);
    }
  });

  it('names only defined services in depends_on', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const [dependency, condition] of dependencies(service)) {
        expect(services[dependency], `${name} depends on unknown ${dependency}`).toBeDefined();
        if (condition === 'service_healthy') {
          expect(
            services[dependency]?.healthcheck,
            `${dependency} has no healthcheck`,
          ).toBeDefined();
        }
        if (condition === 'service_completed_successfully') {
          expect(services[dependency]?.restart, `${dependency} must run once`).toBe('no');
        }
      }
    }
  });

  it('has a healthcheck on every long-running service', () => {
    for (const [name, service] of Object.entries(services)) {
      const oneShot = service.restart === 'no' || service.profiles?.includes('tools');
      if (oneShot || service.profiles?.includes('example')) continue;
      expect(service.healthcheck, `${name} has no healthcheck`).toBeDefined();
    }
  });

  it('builds the services from the Dockerfile', () => {
    for (const name of ['gateway', 'router', 'sender', 'provision', 'igr']) {
      const build = services[name]?.build;
      expect(build, `${name} has no build`).toBeDefined();
      const context = typeof build === 'string' ? build : build?.context;
      const file = typeof build === 'string' ? 'Dockerfile' : (build?.dockerfile ?? 'Dockerfile');
      expect(context, name).toBe('.');
      expect(file, name).toBe('Dockerfile');
    }
  });

  it('runs only compiled files the image holds', () => {
    const runtime = dockerfileStages().get('runtime') ?? [];
    const copied = runtime
      .filter((line) => /^COPY\s+--from=build\s/i.test(line))
      .map((line) => line.split(/\s+/).at(-1) as string);
    for (const [name, service] of Object.entries(services)) {
      if (!service.build) continue;
      const args = [...(service.entrypoint ?? []), ...(service.command ?? [])];
      const file = args.find((arg) => arg.endsWith('.js'));
      expect(file, `${name} runs no .js file`).toBeDefined();
      const inImage =
        copied.some((folder) => file?.startsWith(`${folder}/`)) ||
        contextCopySources(runtime).some((folder) => file?.startsWith(`${folder}/`));
      expect(inImage, `${name}: ${file} is not copied into the runtime stage`).toBe(true);
    }
  });

  it('mounts the KMS seed of the local stack', () => {
    const volumes = (services.kms as { volumes?: string[] }).volumes ?? [];
    const seed = volumes.find((volume) => volume.includes('seed'));
    const hostPath = seed?.split(':')[0] ?? '';
    expect(existsSync(join(root, hostPath)), hostPath).toBe(true);

    // The same key id, backing key and alias as infra/local, so data encrypted by one stack
    // decrypts with the other.
    const seedText = readText(hostPath);
    const localKms = readText('infra/local/src/kms.ts');
    const keyId = /LOCAL_KMS_KEY_ID = '([^']+)'/.exec(localKms)?.[1];
    const alias = /LOCAL_KMS_ALIAS = '([^']+)'/.exec(localKms)?.[1];
    const backingKey = /BackingKeys:\s+- ([0-9a-f]{64})/.exec(localKms)?.[1];
    for (const value of [keyId, alias, backingKey]) {
      expect(value, 'infra/local/src/kms.ts no longer has this form').toBeDefined();
      expect(seedText).toContain(value);
    }
    expect(containerEnvironment(services.sender ?? {}).KMS_KEY_ID).toBe(alias);
  });
});

describe('Dockerfile', () => {
  const stages = dockerfileStages();

  it('copies every workspace package.json before npm ci', () => {
    for (const [stage, lines] of stages) {
      const install = lines.findIndex((line) => /\bnpm ci\b/.test(line));
      expect(install, `${stage} runs no npm ci`).toBeGreaterThan(-1);
      const sources = contextCopySources(lines.slice(0, install));
      for (const folder of workspaceFolders()) {
        expect(sources, `${stage}: ${folder}/package.json`).toContain(`${folder}/package.json`);
        const bin = (JSON.parse(readText(`${folder}/package.json`)) as { bin?: object }).bin;
        for (const file of Object.values(bin ?? {}) as string[]) {
          const path = join(folder, file);
          const covered = sources.some((source) => path.startsWith(`${source}/`));
          expect(covered, `${stage}: bin ${path} is linked by npm ci`).toBe(true);
        }
      }
    }
  });

  it('installs production dependencies only in the runtime stage', () => {
    const runtime = stages.get('runtime') ?? [];
    expect(runtime.some((line) => /\bnpm ci\b.*--omit=dev/.test(line))).toBe(true);
  });

  it('runs as a user that is not root', () => {
    const runtime = stages.get('runtime') ?? [];
    const users = runtime.filter((line) => /^USER\s/i.test(line));
    const user = users.at(-1)?.split(/\s+/)[1];
    expect(user).toBeDefined();
    expect(['root', '0', '0:0']).not.toContain(user);
  });

  it('copies every project that tsc builds', () => {
    const build = stages.get('build') ?? [];
    const tscLine = build.find((line) => /\btsc -b\b/.test(line)) ?? '';
    expect(tscLine, 'the build stage runs tsc -b').not.toBe('');
    // Without project arguments, tsc -b builds the root tsconfig.json and all it references.
    const named = tscLine.replace(/^.*tsc -b/, '').trim();
    const projects = named === '' ? ['.'] : named.split(/\s+/);
    const sources = contextCopySources(build);

    // Every project and, through its references, every project it depends on.
    const pending = [...projects];
    const seen = new Set<string>();
    while (pending.length > 0) {
      const project = (pending.pop() as string).replace(/\/$/, '');
      if (seen.has(project)) continue;
      seen.add(project);
      const tsconfigPath = project === '.' ? 'tsconfig.json' : `${project}/tsconfig.json`;
      const covered = sources.some(
        (source) =>
          source === tsconfigPath || project === source || project.startsWith(`${source}/`),
      );
      expect(covered, `${project} is built but not copied`).toBe(true);
      const tsconfig = JSON.parse(readText(tsconfigPath)) as {
        references?: Array<{ path: string }>;
      };
      for (const reference of tsconfig.references ?? []) {
        pending.push(join(project, reference.path));
      }
    }
    expect(sources).toContain('tsconfig.base.json');
  });

  it('keeps build output out of the context', () => {
    const ignored = readText('.dockerignore')
      .split('\n')
      .map((line) => line.trim());
    for (const pattern of ['**/node_modules', '**/dist', '**/*.tsbuildinfo', '.env']) {
      expect(ignored, pattern).toContain(pattern);
    }
  });
});

describe('docs/configuration.md', () => {
  const shared = section(docSections.shared);

  it('documents the shared variables', () => {
    expect([...shared.keys()].sort()).toEqual([...sharedKeys].sort());
  });

  it('documents each service schema', () => {
    for (const [name, schema] of Object.entries(serviceSchemas)) {
      const own = section(docSections[name as keyof typeof serviceSchemas]);
      const keys = schemaKeys(schema);
      for (const key of keys) {
        expect(own.has(key) || shared.has(key), `${name}: ${key} is not documented`).toBe(true);
      }
      for (const key of own.keys()) {
        expect(keys, `${name}: ${key} is documented but not in the schema`).toContain(key);
      }
    }
  });

  it('states the defaults of each service schema', () => {
    const cases: Array<[string, AnySchema, Map<string, string>]> = [
      ...Object.entries(serviceSchemas).map(
        ([name, schema]) =>
          [name, schema, section(docSections[name as keyof typeof serviceSchemas])] as [
            string,
            AnySchema,
            Map<string, string>,
          ],
      ),
      ...sharedSchemas.map(
        (schema) => ['shared', schema, shared] as [string, AnySchema, Map<string, string>],
      ),
    ];
    for (const [name, schema, own] of cases) {
      for (const [key, fallback] of schemaDefaults(schema)) {
        // The gateway instance defaults to the host name of the machine that runs it.
        if (key === 'GATEWAY_INSTANCE') continue;
        const cell = own.get(key) ?? shared.get(key) ?? '';
        if (fallback.kind === 'required') {
          expect(cell, `${name}: ${key} is required`).toContain('required');
        } else if (fallback.kind === 'unset') {
          expect(cell, `${name}: ${key} is optional`).not.toContain('required');
        } else {
          const expected = fallback.value === '' ? 'empty' : String(fallback.value);
          expect(cell, `${name}: default of ${key}`).toContain(expected);
        }
      }
    }
  });

  it('documents the CLI schemas', () => {
    const own = section(docSections.cli);
    const keys = new Set(cliSchemas.flatMap(schemaKeys));
    for (const key of keys) {
      expect(own.has(key) || shared.has(key), `igr: ${key} is not documented`).toBe(true);
    }
    for (const key of own.keys()) {
      expect(keys.has(key), `igr: ${key} is documented but not in a schema`).toBe(true);
    }
  });

  it('documents the example and simulator variables', () => {
    const autoReply = declaredInSource('examples/auto-reply/src/main.ts', 'AUTO_REPLY_');
    expect([...section(docSections.autoReply).keys()].sort()).toEqual(autoReply.sort());
    const graphSim = declaredInSource('libs/testkit/src/graph-sim/main.ts', 'GRAPH_SIM_');
    const documented = [...section(docSections.graphSim).keys()].filter((key) =>
      key.startsWith('GRAPH_SIM_'),
    );
    expect(documented.sort()).toEqual(graphSim.sort());
  });

  it('documents every variable the code reads directly', () => {
    const folders = [
      'libs/core/src',
      'libs/testkit/src',
      'services/gateway/src',
      'services/router/src',
      'services/sender/src',
      'services/cli/src',
      'infra/local/src',
      'examples/auto-reply/src',
      'examples/demo/src',
    ];
    const documented = new Set([...configurationDoc.values()].flatMap((s) => [...s.keys()]));
    for (const folder of folders) {
      for (const file of readdirSync(join(root, folder), { recursive: true }) as string[]) {
        if (!file.endsWith('.ts') || file.endsWith('.test.ts')) continue;
        const text = readText(join(folder, file));
        for (const match of text.matchAll(/\benv\.([A-Z][A-Z0-9_]+)/g)) {
          const name = match[1] as string;
          expect(documented.has(name), `${folder}/${file} reads ${name}`).toBe(true);
        }
      }
    }
  });

  it('documents every variable docker-compose.yml sets for ig-router', () => {
    const documented = new Set([...configurationDoc.values()].flatMap((s) => [...s.keys()]));
    const ours = ['provision', 'graph-sim', 'gateway', 'router', 'sender', 'igr', 'auto-reply'];
    for (const name of ours) {
      for (const key of Object.keys(services[name]?.environment ?? {})) {
        expect(documented.has(key), `${name}: ${key}`).toBe(true);
      }
    }
  });
});

describe('README.md', () => {
  it('names only documented variables', () => {
    const readme = readText('README.md');
    const documented = new Set([...configurationDoc.values()].flatMap((s) => [...s.keys()]));
    const tables = readme.split('\n').filter((line) => line.startsWith('|'));
    const names = tables.flatMap((line) =>
      [...(line.split('|')[1] ?? '').matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1] as string),
    );
    expect(names.length, 'README has a table of variables').toBeGreaterThan(0);
    for (const name of names) {
      expect(documented.has(name), `README names ${name}`).toBe(true);
    }
  });

  it('links the configuration reference', () => {
    expect(readText('README.md')).toContain('docs/configuration.md');
  });
});
