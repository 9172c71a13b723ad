import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { GatewayConfig } from './config.js';
import { AppsFileError } from './errors.js';

/** Name under which the app configured by META_APP_SECRET and META_VERIFY_TOKEN is recorded. */
export const DEFAULT_APP_NAME = 'default';

/** One Meta app: its webhook path is `/webhook/<name>` (or `/webhook` for the default app). */
export interface MetaApp {
  name: string;
  appSecret: string;
  verifyToken: string;
}

/**
 * Schema of META_APPS_FILE: a JSON array of `{name, app_secret, verify_token}`. Names become URL
 * path segments and `igr-app` header values, so they are limited to letters, digits, `_` and `-`.
 */
export const appsFileSchema = z
  .array(
    z.strictObject({
      name: z
        .string()
        .regex(
          /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/,
          'expected 1 to 63 letters, digits, "_" or "-", starting with a letter or digit',
        )
        .refine((name) => name !== DEFAULT_APP_NAME, {
          message: `"${DEFAULT_APP_NAME}" is reserved for the app set by META_APP_SECRET`,
        }),
      app_secret: z.string().min(1, 'empty; expected the App Secret of this app'),
      verify_token: z.string().min(1, 'empty; expected the verify token of this app'),
    }),
  )
  .superRefine((apps, ctx) => {
    const seen = new Set<string>();
    apps.forEach((app, index) => {
      if (seen.has(app.name)) {
        ctx.addIssue({
          code: 'custom',
          path: [index, 'name'],
          message: `duplicate name "${app.name}"`,
        });
      }
      seen.add(app.name);
    });
  });

/** The apps a gateway verifies, looked up by the `:app` path segment. */
export class AppRegistry {
  readonly defaultApp: MetaApp;
  private readonly named: Map<string, MetaApp>;

  constructor(defaultApp: MetaApp, namedApps: MetaApp[]) {
    this.defaultApp = defaultApp;
    this.named = new Map(namedApps.map((app) => [app.name, app]));
  }

  /** Returns the named app, or undefined when no app has that name. */
  find(name: string): MetaApp | undefined {
    return this.named.get(name);
  }

  /** Names of every app, the default app first; used for metric labels. */
  names(): string[] {
    return [this.defaultApp.name, ...this.named.keys()];
  }
}

/**
 * Reads and validates META_APPS_FILE. The error lists every invalid field by its position in
 * the file and never repeats a secret.
 */
export function readAppsFile(path: string): MetaApp[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new AppsFileError(`META_APPS_FILE ${path} cannot be read: ${(err as Error).message}`, {
      cause: err,
    });
  }

  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // The parser's message quotes the text around the error, which may be a secret.
    throw new AppsFileError(
      `META_APPS_FILE ${path} is not valid JSON; expected an array of {"name", "app_secret", "verify_token"}`,
    );
  }

  const result = appsFileSchema.safeParse(json);
  if (!result.success) {
    const lines = result.error.issues.map(
      (issue) => `  ${issue.path.map(String).join('.') || '(file)'}: ${issue.message}`,
    );
    throw new AppsFileError(`META_APPS_FILE ${path} is invalid:\n${lines.join('\n')}`);
  }
  return result.data.map((app) => ({
    name: app.name,
    appSecret: app.app_secret,
    verifyToken: app.verify_token,
  }));
}

/** Builds the registry from the default app's variables and, when set, META_APPS_FILE. */
export function loadApps(config: GatewayConfig): AppRegistry {
  const defaultApp: MetaApp = {
    name: DEFAULT_APP_NAME,
    appSecret: config.META_APP_SECRET,
    verifyToken: config.META_VERIFY_TOKEN,
  };
  const namedApps = config.META_APPS_FILE ? readAppsFile(config.META_APPS_FILE) : [];
  return new AppRegistry(defaultApp, namedApps);
}
