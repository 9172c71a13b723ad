import { type Logger, type LoggerOptions, pino } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths that pino replaces with "[redacted]". Tokens, app secrets, API keys and authorization
 * headers are never written, whatever object they are nested in.
 */
export const redactedPaths = [
  'token',
  'access_token',
  'accessToken',
  'page_token',
  'pageToken',
  'appSecret',
  'app_secret',
  'secret',
  'apiKey',
  'api_key',
  'password',
  'authorization',
  'Authorization',
  'dataKey',
  'plaintext',
  '*.token',
  '*.access_token',
  '*.accessToken',
  '*.page_token',
  '*.pageToken',
  '*.appSecret',
  '*.app_secret',
  '*.secret',
  '*.apiKey',
  '*.api_key',
  '*.password',
  '*.authorization',
  '*.Authorization',
  '*.dataKey',
  '*.plaintext',
  'headers.authorization',
  'headers["x-hub-signature-256"]',
  'req.headers.authorization',
  'req.headers.cookie',
  'config.KAFKA_SASL_PASSWORD',
  'config.META_APP_SECRET',
  'config.DATABASE_URL',
];

export interface LoggerSettings {
  service: string;
  level?: string;
  /** Destination stream; defaults to stdout. Tests pass a stream to capture lines. */
  destination?: NodeJS.WritableStream;
}

/** Creates the root logger of a service: one JSON line per event, with secrets redacted. */
export function createLogger(settings: LoggerSettings): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? 'info',
    base: { service: settings.service, pid: process.pid },
    redact: { paths: redactedPaths, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ level: label }),
    },
  };
  if (settings.destination) {
    return pino(options, settings.destination as pino.DestinationStream);
  }
  return pino(options);
}

/** Context keys used by child loggers, so every line can be filtered by the same names. */
export interface LogContext {
  ig_business_id?: string;
  client_id?: string;
  event_id?: string;
  command_id?: string;
  topic?: string;
  partition?: number;
  offset?: string;
}

/** Returns a child logger that carries the given ids on every line. */
export function withContext(logger: Logger, context: LogContext): Logger {
  return logger.child(context);
}
