import { GraphErrors, type GraphFailure } from './graph-errors.js';
import {
  authenticate,
  errorOutcome,
  type GraphOutcome,
  type GraphRequest,
  isExpired,
  okOutcome,
} from './graph-request.js';
import { isRecord } from './http.js';
import type { SimAccount } from './schemas.js';
import type { SimulatorState } from './state.js';

/** One requested field of a `fields=` parameter, with its nested fields if any. */
interface FieldSelection {
  name: string;
  children: FieldSelection[];
}

/**
 * Parses a Graph API `fields` parameter such as `id,instagram_business_account{id,username}`.
 * Returns null when the braces do not balance.
 */
export function parseFields(fields: string): FieldSelection[] | null {
  let position = 0;

  // Parses up to the end of the string or the `}` that closes this level.
  function parseList(): { list: FieldSelection[]; closed: boolean } | null {
    const list: FieldSelection[] = [];
    let name = '';
    while (position < fields.length) {
      const character = fields[position] ?? '';
      position += 1;

      if (character === '{') {
        const nested = parseList();
        if (nested === null || !nested.closed) return null;
        list.push({ name: name.trim(), children: nested.list });
        name = '';
        continue;
      }
      if (character === '}' || character === ',') {
        if (name.trim() !== '') list.push({ name: name.trim(), children: [] });
        name = '';
        if (character === '}') return { list, closed: true };
        continue;
      }
      name += character;
    }
    if (name.trim() !== '') list.push({ name: name.trim(), children: [] });
    return { list, closed: false };
  }

  const parsed = parseList();
  if (parsed === null || parsed.closed) return null;
  return parsed.list;
}

type NodeRead = { ok: true; node: Record<string, unknown> } | { ok: false; failure: GraphFailure };

function readInstagramAccount(account: SimAccount, selection: FieldSelection[]): NodeRead {
  const node: Record<string, unknown> = {};
  const fields = selection.length > 0 ? selection : [{ name: 'id', children: [] }];
  for (const field of fields) {
    switch (field.name) {
      case 'id':
        node.id = account.ig_business_id;
        break;
      case 'username':
        node.username = account.username;
        break;
      default:
        return { ok: false, failure: GraphErrors.nonexistingField(field.name, 'IGUser') };
    }
  }
  return { ok: true, node };
}

function readPage(account: SimAccount, selection: FieldSelection[]): NodeRead {
  const node: Record<string, unknown> = {};
  const fields = selection.length > 0 ? selection : [{ name: 'id', children: [] }];
  for (const field of fields) {
    switch (field.name) {
      case 'id':
        break;
      case 'instagram_business_account': {
        // Meta leaves the field out when the Page has no Instagram professional account.
        if (!account.has_instagram_account) break;
        const linked = readInstagramAccount(account, field.children);
        if (!linked.ok) return linked;
        node.instagram_business_account = linked.node;
        break;
      }
      default:
        return { ok: false, failure: GraphErrors.nonexistingField(field.name, 'Page') };
    }
  }
  // Meta writes `id` after the requested fields.
  node.id = account.page_id;
  return { ok: true, node };
}

function selectedFields(
  state: SimulatorState,
  request: GraphRequest,
): FieldSelection[] | GraphOutcome {
  const fields = request.query.get('fields') ?? '';
  const selection = parseFields(fields);
  if (selection === null) {
    return errorOutcome(
      state,
      GraphErrors.invalidParameter(`Syntax error in fields: ${fields}`),
      null,
    );
  }
  return selection;
}

/**
 * Handles `GET /{version}/me` and `GET /{version}/{id}`, where `id` is a Page id or an
 * `ig_business_id`. The token must belong to the object read.
 */
export function handleNodeRead(
  state: SimulatorState,
  request: GraphRequest,
  pathId: string,
): GraphOutcome {
  const auth = authenticate(state, request.token, pathId === 'me' ? 'me' : 'other');
  if (!auth.ok) return errorOutcome(state, auth.failure, null);
  const account = auth.account;
  const igBusinessId = account.has_instagram_account ? (account.ig_business_id ?? null) : null;

  const selection = selectedFields(state, request);
  if (!Array.isArray(selection)) return selection;

  let read: NodeRead;
  if (pathId === 'me' || pathId === account.page_id) {
    read = readPage(account, selection);
  } else if (igBusinessId !== null && pathId === igBusinessId) {
    read = readInstagramAccount(account, selection);
  } else {
    read = { ok: false, failure: GraphErrors.objectNotFound(pathId, 'get') };
  }

  if (!read.ok) return errorOutcome(state, read.failure, igBusinessId);
  return okOutcome(read.node, igBusinessId);
}

/** Handles `POST /{version}/{page_id}/subscribed_apps` and records the subscription. */
export function handleSubscribe(
  state: SimulatorState,
  request: GraphRequest,
  pageId: string,
): GraphOutcome {
  const auth = authenticate(state, request.token, 'other');
  if (!auth.ok) return errorOutcome(state, auth.failure, null);
  if (auth.account.page_id !== pageId) {
    return errorOutcome(state, GraphErrors.objectNotFound(pageId, 'post'), null);
  }

  const body = request.body.ok && isRecord(request.body.value) ? request.body.value : {};
  const rawFields = request.query.get('subscribed_fields') ?? body.subscribed_fields;
  const fields =
    typeof rawFields === 'string' ? rawFields.split(',').map((field) => field.trim()) : [];
  const subscribedFields = fields.filter((field) => field !== '');
  if (subscribedFields.length === 0) {
    return errorOutcome(
      state,
      GraphErrors.invalidParameter('The parameter subscribed_fields is required'),
      null,
    );
  }

  state.recordSubscription(pageId, subscribedFields);
  return okOutcome({ success: true }, auth.account.ig_business_id ?? null);
}

/** Handles `GET /{version}/{page_id}/subscribed_apps`: this app's subscription, if any. */
export function handleListSubscriptions(
  state: SimulatorState,
  request: GraphRequest,
  pageId: string,
): GraphOutcome {
  const auth = authenticate(state, request.token, 'other');
  if (!auth.ok) return errorOutcome(state, auth.failure, null);
  if (auth.account.page_id !== pageId) {
    return errorOutcome(state, GraphErrors.objectNotFound(pageId, 'get'), null);
  }

  const subscription = state.subscription(pageId);
  const data =
    subscription === undefined
      ? []
      : [{ id: state.appId, name: 'ig-router', subscribed_fields: subscription.subscribed_fields }];
  return okOutcome({ data }, auth.account.ig_business_id ?? null);
}

/**
 * Handles `GET /{version}/debug_token?input_token=...`. Meta expects the inspected token in the
 * query string. The caller's own token must still come in the Authorization header, and any
 * value is accepted there as the app token.
 */
export function handleDebugToken(state: SimulatorState, request: GraphRequest): GraphOutcome {
  if (request.token === null) return errorOutcome(state, GraphErrors.tokenMissing('other'), null);
  const inputToken = request.query.get('input_token');
  if (inputToken === null || inputToken === '') {
    return errorOutcome(
      state,
      GraphErrors.invalidParameter('The parameter input_token is required'),
      null,
    );
  }

  const account = state.accountByToken(inputToken);
  if (account === undefined) {
    const { code, message } = GraphErrors.tokenUnknown().error;
    return okOutcome({ data: { error: { code, message }, is_valid: false, scopes: [] } }, null);
  }

  const expired = isExpired(account, state.now());
  const data: Record<string, unknown> = {
    app_id: state.appId,
    type: 'PAGE',
    application: 'ig-router',
    expires_at: account.expires_at,
    is_valid: account.is_valid && !expired,
    scopes: account.scopes,
    profile_id: account.page_id,
  };
  if (!account.is_valid || expired) {
    const failure = account.is_valid
      ? GraphErrors.tokenExpired(account.expires_at)
      : GraphErrors.tokenInvalidated();
    data.error = {
      code: failure.error.code,
      subcode: failure.error.error_subcode,
      message: failure.error.message,
    };
  }
  return okOutcome({ data }, null);
}
