import { createHash, timingSafeEqual } from 'node:crypto';
import {
  type Database,
  type Logger,
  parseSendCommand,
  type SendCommand,
  type TopicKey,
} from '@ig-router/core';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import {
  buildOpenApiDocument,
  type ClientApiErrorCode,
  ClientApiErrorCodes,
  type MessageStatus,
} from './openapi.js';

// The client send API: client apps write send commands to `ig.outbound` and read their state
// from the `sends` read model, authenticated by the API key that `igr clients create` printed.

/** Dependencies of the plugin, given by the gateway's main. */
export interface ClientApiDependencies {
  db: Kysely<Database>;
  /** Writes a validated command to `ig.outbound` with key `ig_business_id`; rejects on failure. */
  produceOutbound(command: SendCommand): Promise<void>;
  topics: Pick<Record<TopicKey, string>, 'outbound'>;
  logger: Logger;
}

/** Largest accepted command body. A text command is under 2 KiB; attachments carry URLs only. */
export const MAX_COMMAND_BODY_BYTES = 64 * 1024;

/** `igr_` and 32 random bytes in unpadded base64url (43 characters). */
const API_KEY_FORMAT = /^igr_[A-Za-z0-9_-]{43}$/;
/** Characters of the key stored in clear in `clients.api_key_prefix`. */
const API_KEY_PREFIX_LENGTH = 8;
const COMMAND_ID_FORMAT = /^[A-Za-z0-9._:-]{1,128}$/;

interface AuthenticatedClient {
  client_id: string;
  name: string;
}

function sendError(
  reply: FastifyReply,
  status: number,
  code: ClientApiErrorCode,
  message: string,
  extra: Record<string, unknown> = {},
): FastifyReply {
  return reply.code(status).send({ error: { code, message, ...extra } });
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * Finds the client of an API key. Candidates are selected by the stored 8-character prefix and
 * the SHA-256 hashes are compared in constant time, so the database lookup never runs on the
 * secret part of the key.
 */
// NOTE: `clients.api_key_prefix` has no index, so this query scans `clients`; a migration
// should add one before the table grows large.
async function findClientByApiKey(
  db: Kysely<Database>,
  apiKey: string,
): Promise<AuthenticatedClient | undefined> {
  if (!API_KEY_FORMAT.test(apiKey)) return undefined;
  const candidates = await db
    .selectFrom('clients')
    .select(['client_id', 'name', 'api_key_hash'])
    .where('api_key_prefix', '=', apiKey.slice(0, API_KEY_PREFIX_LENGTH))
    .execute();

  const presented = sha256(apiKey);
  let found: AuthenticatedClient | undefined;
  for (const candidate of candidates) {
    const stored = Buffer.from(candidate.api_key_hash, 'hex');
    if (stored.length === presented.length && timingSafeEqual(stored, presented)) {
      found = { client_id: candidate.client_id, name: candidate.name };
    }
  }
  return found;
}

function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match?.[1];
}

/** Fills `created_at` with the receive time when the client left it out. */
function withCreatedAt(body: unknown, now: Date): unknown {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return body;
  if ('created_at' in body) return body;
  return { ...body, created_at: now.toISOString() };
}

function toStatus(row: {
  command_id: string;
  ig_business_id: string;
  recipient_id: string;
  state: string;
  attempts: number;
  message_id: string | null;
  error: unknown;
  result: unknown;
  created_at: Date;
  updated_at: Date;
  completed_at: Date | null;
}): MessageStatus {
  return {
    command_id: row.command_id,
    ig_business_id: row.ig_business_id,
    recipient_id: row.recipient_id,
    state: row.state as MessageStatus['state'],
    attempts: row.attempts,
    message_id: row.message_id,
    error: row.error ?? null,
    result: row.result ?? null,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    completed_at: row.completed_at?.toISOString() ?? null,
  };
}

/**
 * Returns whether the client may send for the account. The query filters on client_id too, so
 * another client's account and an unknown account both give `forbidden`, and the response does
 * not reveal which one it is.
 */
async function accountAccess(
  db: Kysely<Database>,
  clientId: string,
  igBusinessId: string,
): Promise<'active' | 'inactive' | 'forbidden'> {
  const account = await db
    .selectFrom('ig_accounts')
    .select(['active'])
    .where('ig_business_id', '=', igBusinessId)
    .where('client_id', '=', clientId)
    .executeTakeFirst();
  if (!account) return 'forbidden';
  return account.active ? 'active' : 'inactive';
}

type Reservation = { kind: 'new' } | { kind: 'repeat'; state: string } | { kind: 'conflict' };

/**
 * Inserts the command's `sends` row with state `pending` before the command is written, so
 * GET finds it at once. A known command_id gives `repeat` for the same client, account and
 * recipient, and `conflict` otherwise.
 */
// NOTE: command_id is unique across clients, because the sender dedupes on it alone, so a
// conflict reveals to a client that some other command uses the id.
async function reserveCommand(
  db: Kysely<Database>,
  clientId: string,
  command: SendCommand,
): Promise<Reservation> {
  const inserted = await db
    .insertInto('sends')
    .values({
      command_id: command.command_id,
      ig_business_id: command.ig_business_id,
      client_id: clientId,
      recipient_id: command.recipient.id ?? command.recipient.comment_id ?? '',
      state: 'pending',
    })
    .onConflict((conflict) => conflict.column('command_id').doNothing())
    .returning('command_id')
    .executeTakeFirst();
  if (inserted) return { kind: 'new' };

  const existing = await db
    .selectFrom('sends')
    .select(['client_id', 'state', 'ig_business_id', 'recipient_id'])
    .where('command_id', '=', command.command_id)
    .executeTakeFirst();
  if (existing && existing.client_id !== clientId) return { kind: 'conflict' };
  // The same id for another account or recipient is a new command, not a retry of this one.
  if (
    existing &&
    (existing.ig_business_id !== command.ig_business_id ||
      existing.recipient_id !== (command.recipient.id ?? command.recipient.comment_id ?? ''))
  ) {
    return { kind: 'conflict' };
  }
  // The row can vanish between both queries when a concurrent request failed to write it.
  return { kind: 'repeat', state: existing?.state ?? 'pending' };
}

/** Deletes the `pending` row of a command that could not be written to `ig.outbound`. */
async function releaseCommand(
  db: Kysely<Database>,
  clientId: string,
  commandId: string,
  logger: Logger,
): Promise<void> {
  try {
    await db
      .deleteFrom('sends')
      .where('command_id', '=', commandId)
      .where('client_id', '=', clientId)
      .where('state', '=', 'pending')
      .execute();
  } catch (err) {
    logger.error(
      { err, client_id: clientId, command_id: commandId },
      'pending send row could not be removed',
    );
  }
}

function accepted(
  reply: FastifyReply,
  commandId: string,
  state: string,
  duplicate: boolean,
): FastifyReply {
  return reply.code(202).send({
    command_id: commandId,
    state,
    duplicate,
    status_url: `/v1/messages/${encodeURIComponent(commandId)}`,
  });
}

/**
 * Fastify plugin serving the /v1 client API: POST /v1/messages, GET /v1/messages/:command_id
 * and GET /v1/openapi.json. Register it without a prefix; the routes carry /v1 themselves.
 */
export async function clientApiPlugin(
  app: FastifyInstance,
  deps: ClientApiDependencies,
): Promise<void> {
  const { db, logger } = deps;
  const clients = new WeakMap<FastifyRequest, AuthenticatedClient>();
  const openApiDocument = buildOpenApiDocument();

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return sendError(
        reply,
        413,
        ClientApiErrorCodes.PAYLOAD_TOO_LARGE,
        `the body is larger than ${MAX_COMMAND_BODY_BYTES} bytes`,
      );
    }
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return sendError(
        reply,
        415,
        ClientApiErrorCodes.UNSUPPORTED_MEDIA_TYPE,
        'send the command as Content-Type: application/json',
      );
    }
    if (error.statusCode === 400) {
      // Fastify's JSON parser errors: an empty or malformed body. The parser's message quotes
      // the body, so it is not repeated.
      return sendError(
        reply,
        400,
        ClientApiErrorCodes.INVALID_REQUEST,
        'the body is not valid JSON; send one send command as a JSON object',
      );
    }
    const client = clients.get(request);
    logger.error({ err: error, client_id: client?.client_id }, 'client API request failed');
    return sendError(reply, 500, ClientApiErrorCodes.INTERNAL_ERROR, 'internal error; retry later');
  });

  // Authentication runs before the body is read, so an unauthenticated client cannot make the
  // gateway parse its body.
  app.addHook('onRequest', async (request, reply) => {
    if ((request.routeOptions.config as { public?: boolean }).public === true) return;
    const apiKey = bearerToken(request);
    if (apiKey === undefined) {
      reply.header('www-authenticate', 'Bearer realm="ig-router"');
      return sendError(
        reply,
        401,
        ClientApiErrorCodes.UNAUTHORIZED,
        'missing Authorization: Bearer <API key> header',
      );
    }
    const client = await findClientByApiKey(db, apiKey);
    if (!client) {
      reply.header('www-authenticate', 'Bearer realm="ig-router", error="invalid_token"');
      return sendError(
        reply,
        401,
        ClientApiErrorCodes.UNAUTHORIZED,
        'unknown API key; use the key printed by igr clients create',
      );
    }
    clients.set(request, client);
    return undefined;
  });

  app.get('/v1/openapi.json', { config: { public: true } }, async (_request, reply) => {
    return reply.header('content-type', 'application/json; charset=utf-8').send(openApiDocument);
  });

  app.post('/v1/messages', { bodyLimit: MAX_COMMAND_BODY_BYTES }, async (request, reply) => {
    const client = clients.get(request);
    if (!client) {
      return sendError(reply, 401, ClientApiErrorCodes.UNAUTHORIZED, 'not authenticated');
    }
    // Fastify parses text/plain into a string; only JSON is a command.
    const mediaType = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (mediaType !== 'application/json') {
      return sendError(
        reply,
        415,
        ClientApiErrorCodes.UNSUPPORTED_MEDIA_TYPE,
        'send the command as Content-Type: application/json',
      );
    }

    const validation = parseSendCommand(withCreatedAt(request.body, new Date()));
    if (!validation.ok) {
      return sendError(reply, 400, ClientApiErrorCodes.INVALID_COMMAND, validation.error.message, {
        issues: validation.error.issues,
      });
    }
    const command = validation.command;
    const context = {
      client_id: client.client_id,
      ig_business_id: command.ig_business_id,
      command_id: command.command_id,
    };

    const access = await accountAccess(db, client.client_id, command.ig_business_id);
    if (access !== 'active') {
      logger.info({ ...context, access }, 'send command rejected for the account');
      return access === 'inactive'
        ? sendError(
            reply,
            403,
            ClientApiErrorCodes.ACCOUNT_INACTIVE,
            `account ${command.ig_business_id} is inactive; ask the operator to activate it`,
          )
        : sendError(
            reply,
            403,
            ClientApiErrorCodes.ACCOUNT_FORBIDDEN,
            `account ${command.ig_business_id} is not an account of this client`,
          );
    }

    const reservation = await reserveCommand(db, client.client_id, command);
    if (reservation.kind === 'conflict') {
      logger.info(context, 'send command rejected: command_id used by another command');
      return sendError(
        reply,
        409,
        ClientApiErrorCodes.COMMAND_ID_CONFLICT,
        `command_id ${command.command_id} is already in use; send the command with another command_id, such as a random UUID`,
      );
    }
    // A repeated command that the sender has picked up is not written again.
    if (reservation.kind === 'repeat' && reservation.state !== 'pending') {
      return accepted(reply, command.command_id, reservation.state, true);
    }

    try {
      await deps.produceOutbound(command);
    } catch (err) {
      logger.error(
        { err, ...context, topic: deps.topics.outbound },
        'send command could not be written',
      );
      if (reservation.kind === 'new')
        await releaseCommand(db, client.client_id, command.command_id, logger);
      reply.header('retry-after', '1');
      return sendError(
        reply,
        503,
        ClientApiErrorCodes.OUTBOUND_UNAVAILABLE,
        'the command could not be stored; send it again with the same command_id',
      );
    }

    logger.info({ ...context, topic: deps.topics.outbound }, 'send command accepted');
    return accepted(reply, command.command_id, 'pending', reservation.kind === 'repeat');
  });

  app.get<{ Params: { command_id: string } }>(
    '/v1/messages/:command_id',
    async (request, reply) => {
      const client = clients.get(request);
      if (!client)
        return sendError(reply, 401, ClientApiErrorCodes.UNAUTHORIZED, 'not authenticated');
      const commandId = request.params.command_id;
      if (!COMMAND_ID_FORMAT.test(commandId)) {
        return sendError(
          reply,
          400,
          ClientApiErrorCodes.INVALID_REQUEST,
          'command_id must have 1 to 128 characters from A-Z, a-z, 0-9 and . _ : -',
        );
      }

      const row = await db
        .selectFrom('sends')
        .selectAll()
        .where('command_id', '=', commandId)
        .where('client_id', '=', client.client_id)
        .executeTakeFirst();
      if (!row) {
        return sendError(
          reply,
          404,
          ClientApiErrorCodes.NOT_FOUND,
          `no command ${commandId} for this client`,
        );
      }
      return reply.code(200).send(toStatus(row));
    },
  );
}
