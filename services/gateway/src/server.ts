import { randomUUID } from 'node:crypto';
import type { Logger } from '@ig-router/core';
import Fastify, {
  type FastifyError,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import type { Message } from 'kafkajs';
import type { AppRegistry, MetaApp } from './apps.js';
import { GatewayErrorCodes, ProduceError, SignatureError } from './errors.js';
import { buildRawRecord } from './ingest.js';
import type { GatewayMetrics } from './metrics.js';
import type { ReadinessState } from './readiness.js';
import { RejectionLog } from './rejections.js';
import { checkSignature, verifyTokenMatches } from './verify.js';

/** Everything the HTTP server needs, injected so tests can build it in-process. */
export interface ServerDependencies {
  apps: AppRegistry;
  /**
   * Stores a record in `ig.raw`. Resolves once Kafka acknowledged it, or rejects with a
   * ProduceError.
   */
  produce: (record: Message) => Promise<void>;
  readiness: () => Promise<ReadinessState>;
  metrics: GatewayMetrics;
  logger: Logger;
  bodyLimitBytes: number;
  /** Time allowed to receive a whole request, in ms. Slower requests get 408. Default 30 s. */
  requestTimeoutMs?: number;
  gatewayInstance: string;
  /** Interval of the rejection log's rate limit, in ms. */
  rejectionLogIntervalMs?: number;
}

const UNKNOWN_APP = 'unknown';
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const EMPTY_BODY = Buffer.alloc(0);

type AppParams = { app?: string };

function signatureFailureReason(error: SignatureError, legacyHeaderPresent: boolean): string {
  switch (error.code) {
    case GatewayErrorCodes.SIGNATURE_MISSING:
      return legacyHeaderPresent ? 'sha1_only' : 'missing';
    case GatewayErrorCodes.SIGNATURE_MALFORMED:
      return 'malformed';
    default:
      return 'mismatch';
  }
}

/**
 * Builds the gateway's Fastify app: the webhook handshake and ingest for the default app
 * (`/webhook`) and each named app (`/webhook/:app`), plus `/healthz`, `/readyz` and `/metrics`.
 * Webhook bodies are read as raw bytes and never parsed before their signature is verified.
 */
export function buildServer(deps: ServerDependencies) {
  const requestTimeout = deps.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const app = Fastify({
    // Fastify's default of 0 lets a client that sends a byte now and then keep its request
    // open forever. Node checks the timeouts only every connectionsCheckingInterval (30 s by
    // default), so a shorter interval keeps the limit close to its configured value.
    requestTimeout,
    http: {
      requestTimeout,
      headersTimeout: requestTimeout,
      connectionsCheckingInterval: Math.min(1_000, requestTimeout),
    },
    loggerInstance: deps.logger,
    // Fastify's own request lines carry the URL, and a handshake URL carries the verify token.
    // Rejections are logged by RejectionLog instead, without the URL.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => randomUUID(),
  });
  // Fastify would create a child logger for every request, which costs time on each webhook.
  // The few lines logged per request carry request_id themselves.
  app.setChildLoggerFactory((logger) => logger);
  const rejections = new RejectionLog(deps.logger, deps.rejectionLogIntervalMs);
  const { metrics } = deps;

  app.addHook('onResponse', async (request, reply) => {
    metrics.requests.inc({
      route: request.routeOptions.url ?? 'unmatched',
      method: request.method,
      status: String(reply.statusCode),
    });
  });

  /** Returns the app named by the path, or undefined for a name that is not configured. */
  function appFor(request: FastifyRequest): MetaApp | undefined {
    const name = (request.params as AppParams).app;
    return name === undefined ? deps.apps.defaultApp : deps.apps.find(name);
  }

  function reject(
    request: FastifyRequest,
    reply: FastifyReply,
    status: number,
    reason: string,
    app: string,
    error?: { code: string; message: string },
  ): FastifyReply {
    rejections.record({
      reason,
      code: error?.code,
      app,
      status,
      remoteAddress: request.ip,
      requestId: request.id,
    });
    return reply
      .code(status)
      .header('x-request-id', request.id)
      .send({ code: error?.code ?? reason, message: error?.message ?? reason });
  }

  function rejectUnknownApp(request: FastifyRequest, reply: FastifyReply): FastifyReply {
    return reject(request, reply, 404, 'app_not_found', UNKNOWN_APP, {
      code: GatewayErrorCodes.APP_NOT_FOUND,
      message: 'no Meta app is configured under this path',
    });
  }

  const handshake = async (request: FastifyRequest, reply: FastifyReply) => {
    const metaApp = appFor(request);
    if (!metaApp) return rejectUnknownApp(request, reply);

    const query = request.query as Record<string, unknown>;
    if (query['hub.mode'] !== 'subscribe') {
      return reject(request, reply, 403, 'handshake_mode_invalid', metaApp.name, {
        code: GatewayErrorCodes.HANDSHAKE_MODE_INVALID,
        message: 'hub.mode must be subscribe',
      });
    }
    if (!verifyTokenMatches(query['hub.verify_token'], metaApp.verifyToken)) {
      return reject(request, reply, 403, 'verify_token_mismatch', metaApp.name, {
        code: GatewayErrorCodes.VERIFY_TOKEN_MISMATCH,
        message: 'hub.verify_token does not match the verify token of this app',
      });
    }
    const challenge = query['hub.challenge'];
    if (typeof challenge !== 'string' || challenge.length === 0) {
      return reject(request, reply, 403, 'challenge_missing', metaApp.name);
    }

    request.log.info(
      { app: metaApp.name, request_id: request.id },
      'webhook subscription verified',
    );
    return reply
      .code(200)
      .header('content-type', 'text/plain; charset=utf-8')
      .header('x-content-type-options', 'nosniff')
      .send(challenge);
  };

  const ingest = async (request: FastifyRequest, reply: FastifyReply) => {
    const receivedAt = Date.now();
    const metaApp = appFor(request);
    if (!metaApp) return rejectUnknownApp(request, reply);

    const body = Buffer.isBuffer(request.body) ? request.body : EMPTY_BODY;
    metrics.receivedBytes.inc({ app: metaApp.name }, body.length);
    // Meta never sends an empty body, and an HMAC of zero bytes proves nothing about a payload.
    if (body.length === 0) {
      metrics.signatureFailures.inc({ app: metaApp.name, reason: 'body_empty' });
      return reject(request, reply, 403, 'body_empty', metaApp.name, {
        code: GatewayErrorCodes.BODY_EMPTY,
        message: 'the request body is empty',
      });
    }

    const signature = request.headers['x-hub-signature-256'];
    const legacyHeaderPresent = request.headers['x-hub-signature'] !== undefined;
    try {
      checkSignature(body, signature, metaApp.appSecret, legacyHeaderPresent);
    } catch (err) {
      if (!(err instanceof SignatureError)) throw err;
      const reason = signatureFailureReason(err, legacyHeaderPresent);
      metrics.signatureFailures.inc({ app: metaApp.name, reason });
      return reject(request, reply, 403, reason, metaApp.name, err);
    }

    const record = buildRawRecord({
      body,
      signature: signature as string,
      receivedAt,
      requestId: request.id,
      appName: metaApp.name,
      gatewayInstance: deps.gatewayInstance,
    });
    try {
      await deps.produce(record);
    } catch (err) {
      if (!(err instanceof ProduceError)) throw err;
      return reject(request, reply, 503, 'kafka_unavailable', metaApp.name, err);
    }

    return reply
      .code(200)
      .header('content-type', 'text/plain; charset=utf-8')
      .header('x-request-id', request.id)
      .send('EVENT_RECEIVED');
  };

  // The webhook routes get their own plugin scope, so the raw-body parser applies to them alone
  // and routes added later (such as the JSON client API) keep Fastify's default parsers.
  app.register(async (webhook) => {
    // Every body, JSON or not, stays the exact bytes received, because parsing and
    // re-serializing would change Meta's ASCII-escaped JSON and break the signature.
    webhook.removeAllContentTypeParsers();
    webhook.addContentTypeParser(
      '*',
      { parseAs: 'buffer', bodyLimit: deps.bodyLimitBytes },
      (_request, body, done) => done(null, body),
    );

    webhook.get('/webhook', handshake);
    webhook.get('/webhook/:app', handshake);
    webhook.post('/webhook', ingest);
    webhook.post('/webhook/:app', ingest);
  });

  app.get('/healthz', async (_request, reply) => reply.type('text/plain').send('ok\n'));

  app.get('/readyz', async (_request, reply) => {
    const state = await deps.readiness();
    return state.ready
      ? reply.code(200).type('text/plain').send('ready\n')
      : reply.code(503).type('text/plain').send(`not ready: ${state.reason}\n`);
  });

  app.get('/metrics', async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.code(200).header('content-type', metrics.registry.contentType).send(text);
  });

  app.setNotFoundHandler((request, reply) => {
    reject(request, reply, 404, 'route_not_found', UNKNOWN_APP);
  });

  app.setErrorHandler<FastifyError>((error, request, reply) => {
    const name = (request.params as AppParams | undefined)?.app;
    const appName = name === undefined ? deps.apps.defaultApp.name : deps.apps.find(name)?.name;

    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reject(request, reply, 413, 'body_too_large', appName ?? UNKNOWN_APP, {
        code: GatewayErrorCodes.BODY_TOO_LARGE,
        message: `the request body exceeds ${deps.bodyLimitBytes} bytes`,
      });
    }
    const status = error.statusCode ?? 500;
    if (status < 500) {
      return reject(request, reply, status, 'bad_request', appName ?? UNKNOWN_APP, {
        code: error.code,
        message: error.message,
      });
    }

    // The URL is left out on purpose: a handshake's query string carries the verify token.
    request.log.error(
      {
        err: error,
        request_id: request.id,
        route: request.routeOptions.url,
        method: request.method,
      },
      'request failed',
    );
    return reply
      .code(500)
      .header('x-request-id', request.id)
      .send({ code: 'INTERNAL_ERROR', message: 'internal error' });
  });

  app.addHook('onClose', async () => {
    rejections.flush();
  });

  return app;
}

export type GatewayServer = ReturnType<typeof buildServer>;
