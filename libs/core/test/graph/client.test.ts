import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Dispatcher } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  GraphApiError,
  type GraphCallEvent,
  GraphClient,
  GraphInvalidResponseError,
  GraphNetworkError,
} from '../../src/index.js';

const TOKEN = 'EAAGpagetokenSECRET0001';
const APP_TOKEN = '1234|appsecretSECRET0002';
const INSPECTED = 'EAAGinspectedSECRET0003';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  socket: number;
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

describe('GraphClient against a local HTTP server', () => {
  let server: Server;
  let baseUrl: string;
  let handler: Handler;
  const seen: Seen[] = [];
  const sockets = new Map<object, number>();
  const clients: GraphClient[] = [];

  const client = (options: ConstructorParameters<typeof GraphClient>[0] = {}) => {
    const created = new GraphClient({ baseUrl, version: 'v23.0', timeoutMs: 2_000, ...options });
    clients.push(created);
    return created;
  };

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        if (!sockets.has(req.socket)) sockets.set(req.socket, sockets.size + 1);
        const body = Buffer.concat(chunks).toString('utf8');
        seen.push({
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body,
          socket: sockets.get(req.socket) ?? 0,
        });
        handler(req, res, body);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    seen.length = 0;
    while (clients.length > 0) await clients.pop()?.close();
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const json =
    (status: number, body: unknown, headers: Record<string, string> = {}): Handler =>
    (_req, res) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };

  it('sends a message with the token in the Authorization header only', async () => {
    handler = json(
      200,
      { recipient_id: '900', message_id: 'mid.1' },
      {
        'x-app-usage': '{"call_count":12,"total_time":3,"total_cputime":4}',
        'x-business-use-case-usage': '{"17841400000000001":[{"type":"instagram","call_count":40}]}',
      },
    );
    const events: GraphCallEvent[] = [];
    const graph = client({ onCall: (event) => events.push(event) });

    const response = await graph.sendMessage(
      '17841400000000001',
      TOKEN,
      { recipient: { id: '900' }, message: { text: 'hello' } },
      { commandId: 'cmd-1' },
    );

    expect(response.data).toEqual({ recipient_id: '900', message_id: 'mid.1' });
    expect(response.usage.maxPercent).toBe(40);
    const request = seen[0];
    expect(request?.method).toBe('POST');
    expect(request?.url).toBe('/v23.0/17841400000000001/messages');
    expect(request?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(request?.headers['x-command-id']).toBe('cmd-1');
    expect(request?.headers['content-type']).toBe('application/json');
    expect(JSON.parse(request?.body ?? '')).toEqual({
      recipient: { id: '900' },
      message: { text: 'hello' },
    });
    expect(request?.url).not.toContain(TOKEN);
    expect(request?.body).not.toContain(TOKEN);
    expect(events).toHaveLength(1);
    expect(events[0]?.operation).toBe('POST /{ig_business_id}/messages');
    expect(events[0]?.outcome).toBe('ok');
    expect(JSON.stringify(events)).not.toContain(TOKEN);
  });

  it('reuses keep-alive connections', async () => {
    handler = json(200, { recipient_id: '900', message_id: 'mid.2' });
    const graph = client({ connections: 1 });
    for (let i = 0; i < 3; i += 1) {
      await graph.sendMessage('17841400000000001', TOKEN, {
        recipient: { id: '900' },
        sender_action: 'typing_on',
      });
    }
    expect(new Set(seen.map((request) => request.socket)).size).toBe(1);
  });

  it('keeps a path prefix of the base URL', async () => {
    handler = json(200, { id: '17841400000000001', username: 'shop' });
    const graph = new GraphClient({ baseUrl: `${baseUrl}/graph/`, version: 'v21.0' });
    clients.push(graph);
    await graph.getAccount('17841400000000001', TOKEN);
    expect(seen[0]?.url).toBe('/graph/v21.0/17841400000000001?fields=id%2Cusername');
  });

  it('raises a classified GraphApiError from an error body', async () => {
    handler = json(
      400,
      {
        error: {
          message: `(#10) This message is sent outside of allowed window. token=${TOKEN}`,
          type: 'OAuthException',
          code: 10,
          error_subcode: 2018278,
          fbtrace_id: 'Atrace',
        },
      },
      { 'x-business-use-case-usage': '{"1":[{"type":"instagram","call_count":5}]}' },
    );
    const graph = client();
    const error = await graph
      .sendMessage('17841400000000001', TOKEN, { recipient: { id: '900' }, message: { text: 'x' } })
      .catch((err: unknown) => err);

    expect(error).toBeInstanceOf(GraphApiError);
    const apiError = error as GraphApiError;
    expect(apiError.code).toBe('GRAPH_WINDOW_CLOSED');
    expect(apiError.classification).toBe('window_closed');
    expect(apiError.graphCode).toBe(10);
    expect(apiError.graphSubcode).toBe(2018278);
    expect(apiError.graphType).toBe('OAuthException');
    expect(apiError.fbtraceId).toBe('Atrace');
    expect(apiError.httpStatus).toBe(400);
    expect(apiError.usage.maxPercent).toBe(5);
    expect(apiError.requestMayHaveReachedMeta).toBe(true);
    expect(apiError.message).toContain('code 10/2018278');
    expect(apiError.message).not.toContain(TOKEN);
    expect(apiError.graphMessage).not.toContain(TOKEN);
  });

  it('classifies by code even when the status is 200', async () => {
    handler = json(200, { error: { message: 'limit', code: 613 } });
    const error = await client()
      .sendMessage('1', TOKEN, { recipient: { id: '9' }, message: { text: 'x' } })
      .catch((err: unknown) => err);
    expect((error as GraphApiError).classification).toBe('throttled');
  });

  it('treats HTTP 502 without a Graph body as retryable', async () => {
    handler = (_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html>bad gateway</html>');
    };
    const error = (await client()
      .sendMessage('1', TOKEN, { recipient: { id: '9' }, message: { text: 'x' } })
      .catch((err: unknown) => err)) as GraphApiError;
    expect(error).toBeInstanceOf(GraphApiError);
    expect(error.classification).toBe('retryable');
    expect(error.graphCode).toBeUndefined();
    expect(error.code).toBe('GRAPH_TRANSIENT');
  });

  it('reports an unexpected success body as an invalid response', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('not json');
    };
    const error = await client()
      .getAccount('1', TOKEN)
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(GraphInvalidResponseError);
    expect((error as GraphInvalidResponseError).requestMayHaveReachedMeta).toBe(true);
  });

  it('times out after the request was sent as possibly delivered', async () => {
    handler = () => {};
    const graph = client({ timeoutMs: 300 });
    const error = (await graph
      .sendMessage('1', TOKEN, { recipient: { id: '9' }, message: { text: 'x' } })
      .catch((err: unknown) => err)) as GraphNetworkError;
    expect(error).toBeInstanceOf(GraphNetworkError);
    expect(error.code).toBe('GRAPH_TIMEOUT');
    expect(error.requestSent).toBe(true);
    expect(error.requestMayHaveReachedMeta).toBe(true);
    expect(error.classification).toBe('unknown');
    expect(seen).toHaveLength(1);
  });

  it('times out while queued for a connection as not sent', async () => {
    // A dispatcher that queues the request: no connection becomes free before the timeout.
    let queued: { onConnect(abort: (err?: Error) => void): void } | undefined;
    const dispatcher = {
      dispatch: (_options: unknown, handler: typeof queued) => {
        queued = handler;
        return true;
      },
      close: async () => {},
    } as unknown as Dispatcher;
    const graph = new GraphClient({ baseUrl, timeoutMs: 200, dispatcher });

    const error = (await graph
      .sendMessage('1', TOKEN, { recipient: { id: '9' }, message: { text: 'x' } })
      .catch((err: unknown) => err)) as GraphNetworkError;
    expect(error).toBeInstanceOf(GraphNetworkError);
    expect(error.code).toBe('GRAPH_TIMEOUT');
    expect(error.requestSent).toBe(false);
    expect(error.classification).toBe('retryable');

    // When a connection frees up later, the request is aborted before it is written.
    let abortedWith: Error | undefined;
    queued?.onConnect((err) => {
      abortedWith = err;
    });
    expect(abortedWith).toBeInstanceOf(Error);
  });

  it('reports a dropped connection after sending as possibly delivered', async () => {
    handler = (req) => req.socket.destroy();
    const error = (await client()
      .sendMessage('1', TOKEN, { recipient: { id: '9' }, message: { text: 'x' } })
      .catch((err: unknown) => err)) as GraphNetworkError;
    expect(error).toBeInstanceOf(GraphNetworkError);
    expect(error.code).toBe('GRAPH_NETWORK_ERROR');
    expect(error.requestSent).toBe(true);
    expect(error.classification).toBe('unknown');
  });

  it('reports a refused connection as not sent and retryable', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));

    const graph = new GraphClient({ baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 1_000 });
    clients.push(graph);
    const error = (await graph
      .sendMessage('1', TOKEN, { recipient: { id: '9' }, message: { text: 'x' } })
      .catch((err: unknown) => err)) as GraphNetworkError;
    expect(error).toBeInstanceOf(GraphNetworkError);
    expect(error.requestSent).toBe(false);
    expect(error.requestMayHaveReachedMeta).toBe(false);
    expect(error.classification).toBe('retryable');
    expect(error.causeCode).toBe('ECONNREFUSED');
  });

  it('reads the Instagram account linked to a Page', async () => {
    handler = json(200, { id: '555', instagram_business_account: { id: '17841400000000001' } });
    const response = await client().getInstagramAccountForPage(TOKEN);
    expect(response.data).toEqual({ page_id: '555', ig_business_id: '17841400000000001' });
    expect(seen[0]?.url).toBe('/v23.0/me?fields=instagram_business_account');
    expect(seen[0]?.headers.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it('returns a null account for a Page without one', async () => {
    handler = json(200, { id: '555' });
    const response = await client().getInstagramAccountForPage(TOKEN);
    expect(response.data).toEqual({ page_id: '555', ig_business_id: null });
  });

  it('subscribes a Page with the fields in the query', async () => {
    handler = json(200, { success: true });
    const response = await client().subscribePage('555', TOKEN, [
      'messages',
      'messaging_postbacks',
    ]);
    expect(response.data).toEqual({ success: true });
    expect(seen[0]?.method).toBe('POST');
    expect(seen[0]?.url).toBe(
      '/v23.0/555/subscribed_apps?subscribed_fields=messages%2Cmessaging_postbacks',
    );
    expect(seen[0]?.url).not.toContain(TOKEN);
  });

  it('inspects a token with the app token in the header', async () => {
    handler = json(200, {
      data: {
        app_id: '1234',
        type: 'PAGE',
        is_valid: true,
        expires_at: 0,
        scopes: ['instagram_basic'],
      },
    });
    const response = await client().debugToken(INSPECTED, APP_TOKEN);
    expect(response.data.is_valid).toBe(true);
    expect(response.data.scopes).toEqual(['instagram_basic']);
    expect(seen[0]?.url).toBe(`/v23.0/debug_token?input_token=${encodeURIComponent(INSPECTED)}`);
    expect(seen[0]?.headers.authorization).toBe(`Bearer ${APP_TOKEN}`);
  });

  it('keeps both tokens out of debug_token errors and call events', async () => {
    handler = json(400, {
      error: { message: `Invalid OAuth access token: ${INSPECTED} (${APP_TOKEN})`, code: 190 },
    });
    const events: GraphCallEvent[] = [];
    const error = (await client({ onCall: (event) => events.push(event) })
      .debugToken(INSPECTED, APP_TOKEN)
      .catch((err: unknown) => err)) as GraphApiError;
    expect(error.classification).toBe('auth');
    const text = `${error.message} ${error.graphMessage} ${error.stack} ${JSON.stringify(events)}`;
    expect(text).not.toContain(INSPECTED);
    expect(text).not.toContain(APP_TOKEN);
    expect(text).toContain('GET /debug_token');
  });

  it('rejects an invalid API version', () => {
    expect(() => new GraphClient({ version: '23' })).toThrow(/v23.0/);
  });
});
