import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { CliAuditAppsConfig } from './config.js';
import { CliError, CliErrorCodes, ExitCodes } from './errors.js';

/** App name the gateway records in the `igr-app` header for the app set by META_APP_SECRET. */
export const DEFAULT_APP_NAME = 'default';

// TODO: the same file format is parsed by the gateway (services/gateway/src/apps.ts). A service
// cannot import another service, so the schema is repeated here until it moves to libs/core.
const appsFileSchema = z.array(
  z.object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/, 'expected 1 to 63 letters, digits, "_" or "-"'),
    app_secret: z.string().min(1, 'empty; expected the App Secret of this app'),
    verify_token: z.string().min(1, 'empty; expected the verify token of this app'),
  }),
);

/**
 * Builds the map from app name to App Secret used to re-verify stored signatures: `default`
 * from META_APP_SECRET and one entry per app of META_APPS_FILE. Errors never quote the file's
 * text, which contains secrets.
 */
export function loadAppSecrets(config: CliAuditAppsConfig): Map<string, string> {
  const secrets = new Map<string, string>();
  if (config.META_APP_SECRET) secrets.set(DEFAULT_APP_NAME, config.META_APP_SECRET);

  if (config.META_APPS_FILE) {
    const path = config.META_APPS_FILE;
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      const reason =
        err instanceof SyntaxError
          ? 'is not valid JSON'
          : `cannot be read (${(err as Error).message})`;
      throw new CliError(
        CliErrorCodes.APPS_FILE_INVALID,
        `META_APPS_FILE ${path} ${reason}; expected an array of {"name", "app_secret", "verify_token"}`,
        { exitCode: ExitCodes.CONFIG },
      );
    }
    const result = appsFileSchema.safeParse(json);
    if (!result.success) {
      const issues = result.error.issues
        .map((issue) => `${issue.path.map(String).join('.') || '(file)'}: ${issue.message}`)
        .join('; ');
      throw new CliError(
        CliErrorCodes.APPS_FILE_INVALID,
        `META_APPS_FILE ${path} is invalid: ${issues}`,
        {
          exitCode: ExitCodes.CONFIG,
        },
      );
    }
    for (const app of result.data) secrets.set(app.name, app.app_secret);
  }

  if (secrets.size === 0) {
    throw new CliError(
      CliErrorCodes.APPS_FILE_INVALID,
      'no app secret configured; set META_APP_SECRET for the default app, META_APPS_FILE for named apps, or both',
      { exitCode: ExitCodes.CONFIG },
    );
  }
  return secrets;
}
