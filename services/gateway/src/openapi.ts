import { sendCommandSchema } from '@ig-router/core';
import { z } from 'zod';

// The OpenAPI 3.1 document of the /v1 client API. Its schemas are generated from the zod
// schemas that validate requests, so the document cannot drift from the code. The client API
// test checks the committed copy, services/gateway/openapi.json, against this output.

type JsonObject = Record<string, unknown>;

/** Stable codes in the `error.code` field of /v1 responses. */
export const ClientApiErrorCodes = {
  UNAUTHORIZED: 'UNAUTHORIZED',
  INVALID_REQUEST: 'INVALID_REQUEST',
  INVALID_COMMAND: 'INVALID_COMMAND',
  ACCOUNT_FORBIDDEN: 'ACCOUNT_FORBIDDEN',
  ACCOUNT_INACTIVE: 'ACCOUNT_INACTIVE',
  COMMAND_ID_CONFLICT: 'COMMAND_ID_CONFLICT',
  NOT_FOUND: 'NOT_FOUND',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  UNSUPPORTED_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  OUTBOUND_UNAVAILABLE: 'OUTBOUND_UNAVAILABLE',
  INTERNAL_ERROR: 'INTERNAL_ERROR',
} as const;

export type ClientApiErrorCode = (typeof ClientApiErrorCodes)[keyof typeof ClientApiErrorCodes];

/** Body of every 4xx and 5xx response. */
export const apiErrorSchema = z.object({
  error: z.object({
    code: z.enum(
      Object.values(ClientApiErrorCodes) as [ClientApiErrorCode, ...ClientApiErrorCode[]],
    ),
    message: z.string(),
    issues: z
      .array(z.object({ path: z.string(), message: z.string() }))
      .optional()
      .describe('Set on INVALID_COMMAND: one entry per invalid field.'),
  }),
});

/** Body of a 202 response to POST /v1/messages. */
export const acceptedSchema = z.object({
  command_id: z.string(),
  state: z.string().describe('pending for a new command; the current state for a repeated one.'),
  duplicate: z
    .boolean()
    .describe('True when this command_id was already accepted for this client.'),
  status_url: z.string().describe('Path of GET /v1/messages/{command_id}.'),
});

/** Body of GET /v1/messages/{command_id}: the row of the `sends` read model. */
export const messageStatusSchema = z.object({
  command_id: z.string(),
  ig_business_id: z.string(),
  recipient_id: z.string(),
  state: z
    .enum(['pending', 'in_flight', 'parked', 'sent', 'failed', 'expired', 'ambiguous'])
    .describe(
      'pending: accepted, not picked up yet. in_flight: being sent. parked: waiting for the account (rate limit or open circuit). sent, failed, expired, ambiguous: final, see the send result.',
    ),
  attempts: z.int().nonnegative(),
  message_id: z.string().nullable().describe('Graph message_id once sent.'),
  error: z.unknown().nullable().describe('Error of the last attempt, as in the send result.'),
  result: z.unknown().nullable().describe('The send result from ig.outbound.results once final.'),
  created_at: z.string(),
  updated_at: z.string(),
  completed_at: z.string().nullable(),
});

export type MessageStatus = z.infer<typeof messageStatusSchema>;

function jsonSchema(schema: z.ZodType): JsonObject {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io: 'input',
    unrepresentable: 'any',
  }) as JsonObject;
  return rest;
}

/** Returns the send command schema as the API accepts it, where `created_at` defaults to now. */
function sendCommandRequestSchema(): JsonObject {
  const schema = jsonSchema(sendCommandSchema);
  const required = (schema.required as string[] | undefined) ?? [];
  const properties = (schema.properties ?? {}) as Record<string, JsonObject>;
  return {
    ...schema,
    description:
      'A send command, validated with the same schema as ig.outbound. Exactly one of message or sender_action. Cross-field rules (react needs payload.message_id, MESSAGE_TAG needs tag HUMAN_AGENT) are checked by the server and reported as field issues.',
    properties: {
      ...properties,
      created_at: {
        ...properties.created_at,
        description:
          'Time the client created the command; defaults to the time the gateway received it.',
      },
    },
    required: required.filter((name) => name !== 'created_at'),
  };
}

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

/** Builds the OpenAPI 3.1 document served at GET /v1/openapi.json. */
export function buildOpenApiDocument(): JsonObject {
  return {
    openapi: '3.1.0',
    info: {
      title: 'ig-router client API',
      version: '1.0.0',
      description:
        'Send Instagram messages through ig-router and read their outcome. Authenticate with the API key that igr clients create printed, as Authorization: Bearer <key>.',
    },
    servers: [{ url: '/' }],
    security: [{ apiKey: [] }],
    paths: {
      '/v1/messages': {
        post: {
          operationId: 'sendMessage',
          summary: 'Queue a send command',
          description:
            'Validates the command, checks that the account belongs to the client and is active, and writes the command to ig.outbound. 202 means stored, not sent: poll GET /v1/messages/{command_id}. Sending the same command_id again does not send twice.',
          requestBody: {
            required: true,
            content: {
              'application/json': { schema: { $ref: '#/components/schemas/SendCommand' } },
            },
          },
          responses: {
            '202': {
              description:
                'Stored in ig.outbound (or already accepted earlier with this command_id).',
              content: {
                'application/json': { schema: { $ref: '#/components/schemas/Accepted' } },
              },
            },
            '400': errorResponse(
              'INVALID_COMMAND with one issue per invalid field, or INVALID_REQUEST for a body that is not JSON.',
            ),
            '401': errorResponse(
              'UNAUTHORIZED: the Authorization header is missing or the API key is unknown.',
            ),
            '403': errorResponse(
              'ACCOUNT_FORBIDDEN: the account is not an account of this client. ACCOUNT_INACTIVE: it is deactivated.',
            ),
            '409': errorResponse(
              'COMMAND_ID_CONFLICT: another command uses this command_id; choose another.',
            ),
            '413': errorResponse('PAYLOAD_TOO_LARGE: the body is larger than 64 KiB.'),
            '415': errorResponse('UNSUPPORTED_MEDIA_TYPE: the body is not application/json.'),
            '503': errorResponse(
              'OUTBOUND_UNAVAILABLE: Kafka did not take the command; send it again with the same command_id.',
            ),
          },
        },
      },
      '/v1/messages/{command_id}': {
        get: {
          operationId: 'getMessage',
          summary: 'Read the state and result of a command',
          description:
            'Only commands of the authenticated client are found; any other command_id gives 404.',
          parameters: [
            {
              name: 'command_id',
              in: 'path',
              required: true,
              schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' },
            },
          ],
          responses: {
            '200': {
              description: 'The command state from the read model.',
              content: {
                'application/json': { schema: { $ref: '#/components/schemas/MessageStatus' } },
              },
            },
            '400': errorResponse('INVALID_REQUEST: the command_id has an invalid format.'),
            '401': errorResponse(
              'UNAUTHORIZED: the Authorization header is missing or the API key is unknown.',
            ),
            '404': errorResponse('NOT_FOUND: no command with this command_id for this client.'),
          },
        },
      },
      '/v1/openapi.json': {
        get: {
          operationId: 'getOpenApiDocument',
          summary: 'This document',
          security: [],
          responses: {
            '200': {
              description: 'The OpenAPI 3.1 document.',
              content: { 'application/json': {} },
            },
          },
        },
      },
    },
    components: {
      securitySchemes: {
        apiKey: {
          type: 'http',
          scheme: 'bearer',
          description: 'Client API key: igr_ followed by 43 base64url characters.',
        },
      },
      schemas: {
        SendCommand: sendCommandRequestSchema(),
        Accepted: jsonSchema(acceptedSchema),
        MessageStatus: jsonSchema(messageStatusSchema),
        Error: jsonSchema(apiErrorSchema),
      },
    },
  };
}
