import { GraphErrors, type GraphFailure, graphFailure } from './graph-errors.js';
import {
  authenticate,
  errorOutcome,
  type GraphOutcome,
  type GraphRequest,
  okOutcome,
} from './graph-request.js';
import { isRecord } from './http.js';
import type { FaultRecord, SendRequestRecord, SimulatorState } from './state.js';
import { tokenFingerprint } from './state.js';

/** Longest `message.text` the Send API accepts, in UTF-8 bytes. */
export const MAX_TEXT_BYTES = 1000;

const SENDER_ACTIONS = new Set(['typing_on', 'typing_off', 'mark_seen', 'react', 'unreact']);
const MESSAGING_TYPES = new Set(['RESPONSE', 'UPDATE', 'MESSAGE_TAG']);

/** A body that passed validation. */
interface ValidSend {
  recipientId: string | null;
  commentId: string | null;
  isSenderAction: boolean;
}

/**
 * Handles `POST /{version}/{ig_business_id}/messages` and `POST /{version}/me/messages`.
 * Checks run in this order: token, account, body, injected fault, rate limit. Every request is
 * logged, whatever its outcome.
 */
export function handleSend(
  state: SimulatorState,
  request: GraphRequest,
  pathId: string,
): GraphOutcome {
  const now = state.now();
  const body = request.body.ok ? request.body.value : null;
  const record = state.logRequest({
    ig_business_id: pathId === 'me' ? null : pathId,
    recipient_id: recipientOf(body),
    body,
    command_id: request.commandId,
    token_fingerprint: request.token === null ? null : tokenFingerprint(request.token),
    status: null,
    error_code: null,
    error_subcode: null,
    message_id: null,
    dropped: false,
    at: new Date(now).toISOString(),
  });

  const outcome = decideSend(state, request, pathId, record, now);

  record.status = outcome.dropConnection ? null : outcome.status;
  record.dropped = outcome.dropConnection;
  return outcome;
}

function decideSend(
  state: SimulatorState,
  request: GraphRequest,
  pathId: string,
  record: SendRequestRecord,
  now: number,
): GraphOutcome {
  const auth = authenticate(state, request.token, pathId === 'me' ? 'me' : 'other');
  if (!auth.ok) return fail(state, record, auth.failure, null);

  const account = auth.account;
  const igBusinessId = pathId === 'me' ? account.ig_business_id : pathId;
  if (igBusinessId === undefined || !account.has_instagram_account) {
    return fail(state, record, GraphErrors.objectNotFound(pathId, 'post'), null);
  }
  record.ig_business_id = igBusinessId;
  if (account.ig_business_id !== igBusinessId) {
    const failure =
      state.accountByIgId(igBusinessId) === undefined
        ? GraphErrors.objectNotFound(igBusinessId, 'post')
        : GraphErrors.tokenForOtherAccount(igBusinessId);
    return fail(state, record, failure, null);
  }

  const validation = validateSendBody(
    request.body.ok ? request.body.value : undefined,
    request.body.ok,
  );
  if (!validation.ok) return fail(state, record, validation.failure, igBusinessId);
  const send = validation.send;

  state.recordSendAttempt(igBusinessId, now);
  const fault = state.takeFault(igBusinessId, send.recipientId ?? send.commentId);
  const latencyMs = fault?.latency_ms ?? 0;
  if (fault !== undefined && (fault.code !== undefined || fault.drop_connection)) {
    return withLatency(faultOutcome(state, record, fault, igBusinessId), latencyMs);
  }

  if (state.isOverLimit(igBusinessId, now)) {
    return withLatency(fail(state, record, GraphErrors.rateLimited(), igBusinessId), latencyMs);
  }

  const recipientId = send.recipientId ?? state.igsidForComment(send.commentId ?? '');
  if (send.isSenderAction) {
    return withLatency(okOutcome({ recipient_id: recipientId }, igBusinessId), latencyMs);
  }
  const messageId = state.nextMessageId(igBusinessId);
  record.message_id = messageId;
  return withLatency(
    okOutcome({ recipient_id: recipientId, message_id: messageId }, igBusinessId),
    latencyMs,
  );
}

function fail(
  state: SimulatorState,
  record: SendRequestRecord,
  failure: GraphFailure,
  igBusinessId: string | null,
): GraphOutcome {
  record.error_code = failure.error.code;
  record.error_subcode = failure.error.error_subcode ?? null;
  return errorOutcome(state, failure, igBusinessId);
}

function faultOutcome(
  state: SimulatorState,
  record: SendRequestRecord,
  fault: FaultRecord,
  igBusinessId: string,
): GraphOutcome {
  if (fault.drop_connection) {
    return { status: 0, body: null, igBusinessId, latencyMs: 0, dropConnection: true };
  }

  const failure = graphFailure(fault.code ?? 1, fault.message, {
    subcode: fault.subcode,
    type: fault.type,
    status: fault.http_status,
  });
  const outcome = fail(state, record, failure, igBusinessId);
  if (fault.estimated_time_to_regain_access !== undefined) {
    outcome.regainMinutes = fault.estimated_time_to_regain_access;
  }
  return outcome;
}

function withLatency(outcome: GraphOutcome, latencyMs: number): GraphOutcome {
  outcome.latencyMs += latencyMs;
  return outcome;
}

function recipientOf(body: unknown): string | null {
  if (!isRecord(body) || !isRecord(body.recipient)) return null;
  const { id, comment_id: commentId } = body.recipient;
  if (typeof id === 'string') return id;
  if (typeof commentId === 'string') return commentId;
  return null;
}

type Validation = { ok: true; send: ValidSend } | { ok: false; failure: GraphFailure };

function invalid(message: string): Validation {
  return { ok: false, failure: GraphErrors.invalidParameter(message) };
}

/** Checks a Send API body against the shapes the Send API accepts. */
export function validateSendBody(body: unknown, isJson: boolean): Validation {
  if (!isJson || !isRecord(body)) {
    return invalid('The request body must be a JSON object (Content-Type: application/json)');
  }

  const recipient = body.recipient;
  if (recipient === undefined) return invalid('The parameter recipient is required');
  if (!isRecord(recipient)) return invalid('param recipient must be an object');
  const recipientId = typeof recipient.id === 'string' && recipient.id !== '' ? recipient.id : null;
  const commentId =
    typeof recipient.comment_id === 'string' && recipient.comment_id !== ''
      ? recipient.comment_id
      : null;
  if (recipientId === null && commentId === null) {
    return invalid('param recipient must contain a string id or comment_id');
  }
  if (recipientId !== null && commentId !== null) {
    return invalid('param recipient must contain either id or comment_id, not both');
  }

  const messagingType = body.messaging_type;
  if (messagingType !== undefined && !MESSAGING_TYPES.has(String(messagingType))) {
    return invalid(`param messaging_type must be one of RESPONSE, UPDATE or MESSAGE_TAG`);
  }
  if (messagingType === 'MESSAGE_TAG' && typeof body.tag !== 'string') {
    return invalid('param tag is required when messaging_type is MESSAGE_TAG');
  }

  const hasMessage = body.message !== undefined;
  const hasSenderAction = body.sender_action !== undefined;
  if (hasMessage === hasSenderAction) {
    return invalid('Exactly one of message or sender_action must be provided');
  }

  const failure = hasSenderAction ? checkSenderAction(body, commentId) : checkMessage(body.message);
  if (failure !== null) return failure;

  return { ok: true, send: { recipientId, commentId, isSenderAction: hasSenderAction } };
}

function checkSenderAction(
  body: Record<string, unknown>,
  commentId: string | null,
): Validation | null {
  const action = body.sender_action;
  if (typeof action !== 'string' || !SENDER_ACTIONS.has(action)) {
    return invalid(
      'param sender_action must be one of typing_on, typing_off, mark_seen, react, unreact',
    );
  }
  if (commentId !== null) {
    return invalid('sender_action cannot be sent to a comment_id recipient');
  }
  if (action === 'react' || action === 'unreact') {
    const payload = body.payload;
    if (!isRecord(payload) || typeof payload.message_id !== 'string' || payload.message_id === '') {
      return invalid(`param payload.message_id is required for sender_action ${action}`);
    }
  }
  return null;
}

function checkMessage(message: unknown): Validation | null {
  if (!isRecord(message)) return invalid('param message must be an object');

  const hasText = message.text !== undefined;
  const hasAttachment = message.attachment !== undefined;
  if (hasText === hasAttachment) {
    return invalid('param message must contain either text or attachment');
  }

  if (hasText) {
    if (typeof message.text !== 'string' || message.text === '') {
      return invalid('param message[text] must be a non-empty string');
    }
    if (Buffer.byteLength(message.text, 'utf8') > MAX_TEXT_BYTES) {
      return invalid(
        `Length of param message[text] must be less than or equal to ${MAX_TEXT_BYTES}`,
      );
    }
    return null;
  }

  const attachment = message.attachment;
  if (
    !isRecord(attachment) ||
    typeof attachment.type !== 'string' ||
    !isRecord(attachment.payload)
  ) {
    return invalid('param message[attachment] must have a string type and an object payload');
  }
  return null;
}
