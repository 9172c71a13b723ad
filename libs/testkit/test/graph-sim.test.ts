import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type GraphSimulator, startGraphSimulator } from '../src/graph-sim/server.js';

const ACCOUNT_A = {
  ig_business_id: '17841400000000001',
  page_id: '100000000000001',
  username: 'shop_a',
  token: 'EAAG-page-token-a',
};
const ACCOUNT_B = {
  ig_business_id: '17841400000000002',
  page_id: '100000000000002',
  username: 'shop_b',
  token: 'EAAG-page-token-b',
};
// First 12 hex digits of SHA-256, computed with `printf %s TOKEN | sha256sum`.
const FINGERPRINT_A = '383f09ab1522';
const FINGERPRINT_LEAKED = '614c2f83baaf';
const LEAKED_TOKEN = 'EAAG-leaked-query-token';
const IGSID = '1254459154682919';

let sim: GraphSimulator;
// The simulator reads this clock, so rate-limit windows do not depend on how fast the test runs.
let nowMs = 1_735_689_600_000;

interface GraphError {
  message: string;
  type: string;
  code: number;
  error_subcode?: number;
  fbtrace_id: string;
  is_transient?: boolean;
}

async function graph(
  method: string,
  path: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';

  const response = await fetch(`${sim.url}${path}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  return {
    status: response.status,
    body: (await response.json()) as Record<string, unknown>,
    headers: response.headers,
  };
}

function send(
  igPath: string,
  token: string | undefined,
  body: unknown,
  headers?: Record<string, string>,
) {
  return graph('POST', `/v21.0/${igPath}/messages`, { token, body, headers });
}

function errorOf(body: Record<string, unknown>): GraphError {
  return body.error as GraphError;
}

const textTo = (text: string, recipient = IGSID) => ({
  recipient: { id: recipient },
  message: { text },
});

beforeAll(async () => {
  sim = await startGraphSimulator({ clock: () => nowMs });
});

afterAll(async () => {
  await sim.close();
});

beforeEach(() => {
  sim.reset();
  nowMs += 10_000;
  sim.registerAccount(ACCOUNT_A);
  sim.registerAccount(ACCOUNT_B);
});

describe('graph simulator Send API', () => {
  it('sends with the account token', async () => {
    const response = await send(ACCOUNT_A.ig_business_id, ACCOUNT_A.token, textTo('hello'));

    expect(response.status).toBe(200);
    expect(response.body.recipient_id).toBe(IGSID);
    expect(response.body.message_id).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('gives unique message ids', async () => {
    const ids = new Set<unknown>();
    for (let i = 0; i < 5; i += 1) {
      ids.add(
        (await send(ACCOUNT_A.ig_business_id, ACCOUNT_A.token, textTo(`m${i}`))).body.message_id,
      );
    }

    expect(ids.size).toBe(5);
  });

  it('resolves /me/messages to the token account', async () => {
    const response = await send('me', ACCOUNT_B.token, textTo('hello'));

    expect(response.status).toBe(200);
    expect(sim.requests()[0]?.ig_business_id).toBe(ACCOUNT_B.ig_business_id);
  });

  it('returns 190 for another account token', async () => {
    const response = await send(ACCOUNT_A.ig_business_id, ACCOUNT_B.token, textTo('hello'));

    expect(response.status).toBe(400);
    expect(errorOf(response.body).code).toBe(190);
    expect(errorOf(response.body).type).toBe('OAuthException');
    expect(errorOf(response.body).fbtrace_id).toEqual(expect.any(String));
  });

  it('returns 190 for an unknown token', async () => {
    const response = await send(ACCOUNT_A.ig_business_id, 'EAAG-unknown', textTo('hello'));

    expect(errorOf(response.body).code).toBe(190);
  });

  it('returns 190/463 for an expired token', async () => {
    sim.registerAccount({ ...ACCOUNT_A, expires_at: Math.floor(nowMs / 1000) - 60 });
    const response = await send(ACCOUNT_A.ig_business_id, ACCOUNT_A.token, textTo('hello'));

    expect(errorOf(response.body).code).toBe(190);
    expect(errorOf(response.body).error_subcode).toBe(463);
  });

  it('returns 104 without a token', async () => {
    const response = await send(ACCOUNT_A.ig_business_id, undefined, textTo('hello'));

    expect(response.status).toBe(400);
    expect(errorOf(response.body).code).toBe(104);
  });

  it('rejects a token in the query string and records a violation', async () => {
    const response = await graph(
      'POST',
      `/v21.0/${ACCOUNT_A.ig_business_id}/messages?access_token=${LEAKED_TOKEN}`,
      { token: ACCOUNT_A.token, body: textTo('hello') },
    );

    expect(response.status).toBe(400);
    expect(errorOf(response.body).code).toBe(104);
    expect(sim.violations()).toEqual([
      {
        kind: 'token_in_query',
        method: 'POST',
        path: `/v21.0/${ACCOUNT_A.ig_business_id}/messages`,
        token_fingerprint: FINGERPRINT_LEAKED,
        at: expect.any(String),
      },
    ]);
  });

  it('rejects a token in the body and redacts it from the log', async () => {
    const response = await send(ACCOUNT_A.ig_business_id, ACCOUNT_A.token, {
      ...textTo('hello'),
      access_token: LEAKED_TOKEN,
    });

    expect(errorOf(response.body).code).toBe(104);
    expect(sim.violations()[0]?.kind).toBe('token_in_body');
    expect(JSON.stringify(sim.requests())).not.toContain(LEAKED_TOKEN);
  });

  it.each([
    ['a missing recipient', { message: { text: 'hi' } }],
    ['an empty recipient', { recipient: {}, message: { text: 'hi' } }],
    ['neither message nor sender_action', { recipient: { id: IGSID } }],
    ['both message and sender_action', { ...textTo('hi'), sender_action: 'typing_on' }],
    ['text of 1,001 bytes', textTo('a'.repeat(1001))],
    ['text of 501 two-byte characters', textTo('é'.repeat(501))],
    ['an unknown sender_action', { recipient: { id: IGSID }, sender_action: 'dance' }],
    ['react without payload.message_id', { recipient: { id: IGSID }, sender_action: 'react' }],
    [
      'an attachment without payload',
      { recipient: { id: IGSID }, message: { attachment: { type: 'image' } } },
    ],
    ['MESSAGE_TAG without tag', { ...textTo('hi'), messaging_type: 'MESSAGE_TAG' }],
  ])('returns 100 for %s', async (_case, body) => {
    const response = await send(ACCOUNT_A.ig_business_id, ACCOUNT_A.token, body);

    expect(response.status).toBe(400);
    expect(errorOf(response.body).code).toBe(100);
  });

  it('accepts text of exactly 1,000 UTF-8 bytes', async () => {
    const response = await send(ACCOUNT_A.ig_business_id, ACCOUNT_A.token, textTo('é'.repeat(500)));

    expect(response.status).toBe(200);
  });

  it('accepts attachments, private replies and HUMAN_AGENT tags', async () => {
    const attachment = { type: 'image', payload: { url: 'https://example.com/a.png' } };

    const withAttachment = await send(ACCOUNT_A.ig_business_id, ACCOUNT_A.token, {
      recipient: { id: IGSID },
      message: { attachment },
    });
    const privateReply = await send(ACCOUNT_A.ig_business_id, ACCOUNT_A.token, {
      recipient: { comment_id: '17865799348089039' },
      message: { text: 'Sent you a DM' },
    });
    const tagged = await send(ACCOUNT_A.ig_business_id, ACCOUNT_A.token, {
      ...textTo('An agent here'),
      messaging_type: 'MESSAGE_TAG',
      tag: 'HUMAN_AGENT',
    });

    expect(withAttachment.status).toBe(200);
    expect(privateReply.status).toBe(200);
    expect(privateReply.body.recipient_id).toMatch(/^\d+$/);
    expect(tagged.status).toBe(200);
  });

  it('returns only recipient_id for a sender action', async () => {
    const typing = await send(ACCOUNT_A.ig_business_id, ACCOUNT_A.token, {
      recipient: { id: IGSID },
      sender_action: 'typing_on',
    });
    const react = await send(ACCOUNT_A.ig_business_id, ACCOUNT_A.token, {
      recipient: { id: IGSID },
      sender_action: 'react',
      payload: { message_id: 'mid-1', reaction: 'love' },
    });

    expect(typing.body).toEqual({ recipient_id: IGSID });
    expect(react.body).toEqual({ recipient_id: IGSID });
  });

  it('sends usage headers in Meta shape', async () => {
    const response = await send(ACCOUNT_A.ig_business_id, ACCOUNT_A.token, textTo('hello'));

    const appUsage = JSON.parse(response.headers.get('x-app-usage') ?? 'null');
    const businessUsage = JSON.parse(response.headers.get('x-business-use-case-usage') ?? 'null');
    expect(appUsage).toEqual({ call_count: 0, total_cputime: 0, total_time: 0 });
    expect(businessUsage).toEqual({
      [ACCOUNT_A.ig_business_id]: [
        {
          type: 'instagram',
          call_count: 1,
          total_cputime: 1,
          total_time: 1,
          estimated_time_to_regain_access: 0,
        },
      ],
    });
  });
});

describe('graph simulator rate limit', () => {
  it('returns 613 past the per-account limit until the window moves', async () => {
    sim.registerAccount({ ...ACCOUNT_A, rate_limit_per_second: 3 });

    const statuses: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      statuses.push(
        (await send(ACCOUNT_A.ig_business_id, ACCOUNT_A.token, textTo(`m${i}`))).status,
      );
    }
    const limited = await send(ACCOUNT_A.ig_business_id, ACCOUNT_A.token, textTo('one too many'));
    const otherAccount = await send(
      ACCOUNT_B.ig_business_id,
      ACCOUNT_B.token,
      textTo('unaffected'),
    );
    nowMs += 1_001;
    const afterWindow = await send(ACCOUNT_A.ig_business_id, ACCOUNT_A.token, textTo('later'));

    expect(statuses).toEqual([200, 200, 200]);
    expect(limited.status).toBe(400);
    expect(errorOf(limited.body).code).toBe(613);
    const usage = JSON.parse(limited.headers.get('x-business-use-case-usage') ?? '{}');
    expect(usage[ACCOUNT_A.ig_business_id][0].call_count).toBe(133);
    expect(otherAccount.status).toBe(200);
    expect(afterWindow.status).toBe(200);
  });
});

describe('graph simulator faults', () => {
  it('fails the next count sends with the injected error', async () => {
    const added = await graph('POST', '/_sim/faults', {
      body: { ig_business_id: ACCOUNT_A.ig_business_id, code: 2, count: 2 },
    });

    const first = await send(ACCOUNT_A.ig_business_id, ACCOUNT_A.token, textTo('1'));
    const second = await send(ACCOUNT_A.ig_business_id, ACCOUNT_A.token, textTo('2'));
    const third = await send(ACCOUNT_A.ig_business_id, ACCOUNT_A.token, textTo('3'));

    expect(added.status).toBe(201);
    expect(first.status).toBe(500);
    expect(errorOf(first.body)).toMatchObject({ code: 2, is_transient: true });
    expect(second.status).toBe(500);
    expect(third.status).toBe(200);
  });

  it('sends the subcode and the chosen HTTP status', async () => {
    sim.addFault({
      ig_business_id: ACCOUNT_A.ig_business_id,
      code: 10,
      subcode: 2018278,
      http_status: 403,
    });

    const response = await send(ACCOUNT_A.ig_business_id, ACCOUNT_A.token, textTo('late reply'));

    expect(response.status).toBe(403);
    expect(errorOf(response.body).code).toBe(10);
    expect(errorOf(response.body).error_subcode).toBe(2018278);
  });

  it('matches only the given recipient', async () => {
    sim.addFault({ ig_business_id: ACCOUNT_A.ig_business_id, recipient_id: '999', code: 551 });

    const other = await send(ACCOUNT_A.ig_business_id, ACCOUNT_A.token, textTo('hi'));
    const matched = await send(ACCOUNT_A.ig_business_id, ACCOUNT_A.token, textTo('hi', '999'));

    expect(other.status).toBe(200);
    expect(errorOf(matched.body).code).toBe(551);
  });

  it('leaves other accounts alone', async () => {
    sim.addFault({ ig_business_id: ACCOUNT_A.ig_business_id, code: 2 });

    const response = await send(ACCOUNT_B.ig_business_id, ACCOUNT_B.token, textTo('hi'));

    expect(response.status).toBe(200);
  });

  it('reports the injected regain-access minutes', async () => {
    sim.addFault({
      ig_business_id: ACCOUNT_A.ig_business_id,
      code: 80002,
      estimated_time_to_regain_access: 7,
    });

    const response = await send(ACCOUNT_A.ig_business_id, ACCOUNT_A.token, textTo('hi'));

    const usage = JSON.parse(response.headers.get('x-business-use-case-usage') ?? '{}');
    expect(errorOf(response.body).code).toBe(80002);
    expect(usage[ACCOUNT_A.ig_business_id][0].estimated_time_to_regain_access).toBe(7);
  });

  it('delays and then succeeds for a latency-only fault', async () => {
    sim.addFault({ ig_business_id: ACCOUNT_A.ig_business_id, latency_ms: 150 });

    const started = performance.now();
    const response = await send(ACCOUNT_A.ig_business_id, ACCOUNT_A.token, textTo('slow'));

    expect(response.status).toBe(200);
    // Node timers can fire about a millisecond early, so the check allows 5 ms.
    expect(performance.now() - started).toBeGreaterThanOrEqual(145);
  });

  it('closes the connection without a response', async () => {
    sim.addFault({ ig_business_id: ACCOUNT_A.ig_business_id, drop_connection: true });

    await expect(
      send(ACCOUNT_A.ig_business_id, ACCOUNT_A.token, textTo('lost?')),
    ).rejects.toThrow();
    const next = await send(ACCOUNT_A.ig_business_id, ACCOUNT_A.token, textTo('next'));

    expect(next.status).toBe(200);
    expect(sim.requests()[0]).toMatchObject({ status: null, dropped: true, message_id: null });
  });

  it('clears faults with DELETE /_sim/faults', async () => {
    sim.addFault({ ig_business_id: ACCOUNT_A.ig_business_id, code: 2, count: 5 });

    const deleted = await graph('DELETE', '/_sim/faults');
    const response = await send(ACCOUNT_A.ig_business_id, ACCOUNT_A.token, textTo('hi'));

    expect(deleted.body).toEqual({ deleted: 1 });
    expect(response.status).toBe(200);
  });

  it('rejects an invalid fault', async () => {
    const response = await graph('POST', '/_sim/faults', {
      body: { ig_business_id: ACCOUNT_A.ig_business_id },
    });

    expect(response.status).toBe(400);
    expect(errorOf(response.body).message).toContain('code, latency_ms or drop_connection');
  });
});

describe('graph simulator request log', () => {
  it('lists sends in order with fingerprints and command ids', async () => {
    await send(ACCOUNT_A.ig_business_id, ACCOUNT_A.token, textTo('first'), {
      'x-command-id': 'cmd-1',
    });
    await send(ACCOUNT_A.ig_business_id, ACCOUNT_B.token, textTo('second'), {
      'idempotency-key': 'cmd-2',
    });

    const response = await fetch(`${sim.url}/_sim/requests`);
    const text = await response.text();
    const { requests } = JSON.parse(text) as { requests: Array<Record<string, unknown>> };

    expect(requests).toHaveLength(2);
    expect(requests[0]).toMatchObject({
      seq: 1,
      ig_business_id: ACCOUNT_A.ig_business_id,
      recipient_id: IGSID,
      body: textTo('first'),
      command_id: 'cmd-1',
      token_fingerprint: FINGERPRINT_A,
      status: 200,
    });
    expect(requests[1]).toMatchObject({
      seq: 2,
      command_id: 'cmd-2',
      status: 400,
      error_code: 190,
    });
    expect(requests[0]?.at).toBe(new Date(nowMs).toISOString());
    expect(text).not.toContain(ACCOUNT_A.token);
    expect(text).not.toContain(ACCOUNT_B.token);
  });

  it('keeps no token text anywhere in the control output', async () => {
    await graph(
      'POST',
      `/v21.0/${ACCOUNT_A.ig_business_id}/messages?access_token=${LEAKED_TOKEN}`,
      {
        body: textTo('hi'),
      },
    );
    await graph('GET', `/v21.0/debug_token?input_token=${ACCOUNT_A.token}`, { token: 'app-token' });

    const outputs = await Promise.all(
      [
        '/_sim/requests',
        '/_sim/violations',
        '/_sim/accounts',
        '/_sim/subscriptions',
        '/_sim/faults',
      ].map(async (path) => (await fetch(`${sim.url}${path}`)).text()),
    );

    for (const output of outputs) {
      expect(output).not.toContain(LEAKED_TOKEN);
      expect(output).not.toContain(ACCOUNT_A.token);
    }
  });

  it('filters by account and clears with DELETE', async () => {
    await send(ACCOUNT_A.ig_business_id, ACCOUNT_A.token, textTo('a'));
    await send(ACCOUNT_B.ig_business_id, ACCOUNT_B.token, textTo('b'));

    const filtered = await graph(
      'GET',
      `/_sim/requests?ig_business_id=${ACCOUNT_B.ig_business_id}`,
    );
    await graph('DELETE', '/_sim/requests');

    expect((filtered.body.requests as unknown[]).length).toBe(1);
    expect(sim.requests()).toEqual([]);
  });
});

describe('graph simulator onboarding reads', () => {
  it('reads instagram_business_account from /me', async () => {
    const response = await graph('GET', '/v21.0/me?fields=instagram_business_account', {
      token: ACCOUNT_A.token,
    });

    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      instagram_business_account: { id: ACCOUNT_A.ig_business_id },
      id: ACCOUNT_A.page_id,
    });
  });

  it('leaves instagram_business_account out for a Page without one', async () => {
    sim.registerAccount({
      page_id: '100000000000003',
      username: 'no_ig',
      token: 'EAAG-page-token-c',
      has_instagram_account: false,
    });

    const response = await graph('GET', '/v19.0/me?fields=instagram_business_account', {
      token: 'EAAG-page-token-c',
    });

    expect(response.body).toEqual({ id: '100000000000003' });
  });

  it('reads the Page with nested fields', async () => {
    const response = await graph(
      'GET',
      `/v21.0/${ACCOUNT_A.page_id}?fields=instagram_business_account{id,username}`,
      { token: ACCOUNT_A.token },
    );

    expect(response.body).toEqual({
      instagram_business_account: { id: ACCOUNT_A.ig_business_id, username: 'shop_a' },
      id: ACCOUNT_A.page_id,
    });
  });

  it('reads the Instagram account', async () => {
    const response = await graph('GET', `/v21.0/${ACCOUNT_A.ig_business_id}?fields=id,username`, {
      token: ACCOUNT_A.token,
    });

    expect(response.body).toEqual({ id: ACCOUNT_A.ig_business_id, username: 'shop_a' });
  });

  it('returns 100/33 for another account', async () => {
    const response = await graph('GET', `/v21.0/${ACCOUNT_B.ig_business_id}?fields=id,username`, {
      token: ACCOUNT_A.token,
    });

    expect(errorOf(response.body)).toMatchObject({
      code: 100,
      error_subcode: 33,
      type: 'GraphMethodException',
    });
  });

  it('returns 100 for a nonexisting field', async () => {
    const response = await graph(
      'GET',
      `/v21.0/${ACCOUNT_A.ig_business_id}?fields=id,followers_secret`,
      {
        token: ACCOUNT_A.token,
      },
    );

    expect(errorOf(response.body).code).toBe(100);
    expect(errorOf(response.body).message).toContain('followers_secret');
  });

  it('returns 2500 for /me without a token', async () => {
    const response = await graph('GET', '/v21.0/me?fields=instagram_business_account');

    expect(errorOf(response.body).code).toBe(2500);
  });

  it('rejects a token in the query string of a read', async () => {
    const response = await graph('GET', `/v21.0/me?fields=id&access_token=${ACCOUNT_A.token}`);

    expect(errorOf(response.body).code).toBe(2500);
    expect(sim.violations()).toHaveLength(1);
  });

  it('records subscribed_apps', async () => {
    const response = await graph(
      'POST',
      `/v21.0/${ACCOUNT_A.page_id}/subscribed_apps?subscribed_fields=messages,messaging_postbacks`,
      { token: ACCOUNT_A.token },
    );
    const listed = await graph('GET', '/_sim/subscriptions');
    const read = await graph('GET', `/v21.0/${ACCOUNT_A.page_id}/subscribed_apps`, {
      token: ACCOUNT_A.token,
    });

    expect(response.body).toEqual({ success: true });
    expect(listed.body.subscriptions).toEqual([
      {
        page_id: ACCOUNT_A.page_id,
        subscribed_fields: ['messages', 'messaging_postbacks'],
        at: expect.any(String),
      },
    ]);
    expect(read.body.data).toEqual([
      {
        id: expect.any(String),
        name: 'ig-router',
        subscribed_fields: ['messages', 'messaging_postbacks'],
      },
    ]);
  });

  it('returns 100 for subscribed_apps without fields', async () => {
    const response = await graph('POST', `/v21.0/${ACCOUNT_A.page_id}/subscribed_apps`, {
      token: ACCOUNT_A.token,
    });

    expect(errorOf(response.body).code).toBe(100);
  });

  it('inspects a token with debug_token', async () => {
    sim.registerAccount({ ...ACCOUNT_A, expires_at: 0 });
    sim.registerAccount({ ...ACCOUNT_B, expires_at: Math.floor(nowMs / 1000) - 1 });

    const valid = await graph('GET', `/v21.0/debug_token?input_token=${ACCOUNT_A.token}`, {
      token: 'app-token',
    });
    const expired = await graph('GET', `/v21.0/debug_token?input_token=${ACCOUNT_B.token}`, {
      token: 'app-token',
    });
    const unknown = await graph('GET', '/v21.0/debug_token?input_token=EAAG-nobody', {
      token: 'app-token',
    });

    expect(valid.body.data).toMatchObject({
      is_valid: true,
      expires_at: 0,
      type: 'PAGE',
      profile_id: ACCOUNT_A.page_id,
      app_id: expect.any(String),
      scopes: expect.arrayContaining(['instagram_manage_messages']),
    });
    expect(expired.body.data).toMatchObject({
      is_valid: false,
      error: { code: 190, subcode: 463 },
    });
    expect(unknown.body.data).toMatchObject({ is_valid: false, error: { code: 190 } });
  });

  it('accepts any v<major>.<minor> version and rejects other paths', async () => {
    const v18 = await graph('GET', `/v18.0/${ACCOUNT_A.ig_business_id}?fields=id`, {
      token: ACCOUNT_A.token,
    });
    const noVersion = await graph('GET', `/${ACCOUNT_A.ig_business_id}?fields=id`, {
      token: ACCOUNT_A.token,
    });

    expect(v18.status).toBe(200);
    expect(errorOf(noVersion.body).code).toBe(2500);
  });
});

describe('graph simulator control API', () => {
  it('registers an account over HTTP without echoing its token', async () => {
    const response = await graph('POST', '/_sim/accounts', {
      body: {
        ig_business_id: '17841400000000005',
        page_id: '100000000000005',
        username: 'shop_e',
        token: 'EAAG-e',
      },
    });
    const sent = await send('17841400000000005', 'EAAG-e', textTo('hi'));

    expect(response.status).toBe(201);
    expect(response.body).not.toHaveProperty('token');
    expect(response.body.token_fingerprint).toMatch(/^[0-9a-f]{12}$/);
    expect(sent.status).toBe(200);
  });

  it('rejects an account with a numeric id', async () => {
    const response = await graph('POST', '/_sim/accounts', {
      body: { ig_business_id: 17841400000000, page_id: '1', username: 'x', token: 't' },
    });

    expect(response.status).toBe(400);
    expect(errorOf(response.body).message).toContain('ig_business_id');
  });

  it('resets everything with POST /_sim/reset', async () => {
    await send(ACCOUNT_A.ig_business_id, ACCOUNT_A.token, textTo('hi'));

    await graph('POST', '/_sim/reset');
    const after = await send(ACCOUNT_A.ig_business_id, ACCOUNT_A.token, textTo('hi'));

    expect(errorOf(after.body).code).toBe(190);
    expect(sim.requests()).toHaveLength(1);
  });
});
