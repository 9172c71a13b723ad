import { connect } from 'node:net';

// A minimal HTTP/1.1 client over a plain socket. node:http refuses to send the malformed header
// blocks, conflicting framings and partial bodies that the corpus needs, so requests are written
// byte for byte here.

/** The response to a raw request, or how the connection ended without one. */
export interface RawResponse {
  /** HTTP status, or 0 when the server closed the connection without a status line. */
  status: number;
  /** Header names in lowercase; a repeated header keeps every value. */
  headers: Record<string, string[]>;
  body: Buffer;
  /** Milliseconds from connecting to the end of the connection. */
  elapsedMs: number;
}

export interface RawRequest {
  method: string;
  path: string;
  /** Header lines without their line ending, written in order and unchanged. */
  headerLines: string[];
  /** Request body; written after the header block as given, with no framing added. */
  body?: Buffer;
}

/** Encodes a request: request line, header lines, an empty line, then the body bytes. */
export function encodeRequest(request: RawRequest): Buffer {
  const head = `${request.method} ${request.path} HTTP/1.1\r\n${request.headerLines
    .map((line) => `${line}\r\n`)
    .join('')}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), request.body ?? Buffer.alloc(0)]);
}

/** Encodes a body with `Transfer-Encoding: chunked` framing, in chunks of `chunkSize` bytes. */
export function chunkedBody(body: Buffer, chunkSize = 4096): Buffer {
  const parts: Buffer[] = [];
  for (let start = 0; start < body.length; start += chunkSize) {
    const chunk = body.subarray(start, start + chunkSize);
    parts.push(
      Buffer.from(`${chunk.length.toString(16)}\r\n`, 'latin1'),
      chunk,
      Buffer.from('\r\n'),
    );
  }
  parts.push(Buffer.from('0\r\n\r\n', 'latin1'));
  return Buffer.concat(parts);
}

function decodeChunked(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let position = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', position);
    if (lineEnd < 0) break;
    const size = Number.parseInt(data.subarray(position, lineEnd).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    position = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

/** Parses the first response in `data`; returns status 0 when there is no complete head. */
export function parseResponse(data: Buffer, elapsedMs: number): RawResponse {
  const headEnd = data.indexOf('\r\n\r\n');
  if (headEnd < 0) return { status: 0, headers: {}, body: Buffer.alloc(0), elapsedMs };

  const [statusLine = '', ...lines] = data.subarray(0, headEnd).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
  const headers: Record<string, string[]> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    headers[name] = [...(headers[name] ?? []), line.slice(colon + 1).trim()];
  }

  let body = data.subarray(headEnd + 4);
  const length = headers['content-length']?.[0];
  if (headers['transfer-encoding']?.[0]?.toLowerCase() === 'chunked') {
    body = decodeChunked(body);
  } else if (length !== undefined) {
    body = body.subarray(0, Number(length));
  }
  return { status, headers, body: Buffer.from(body), elapsedMs };
}

export interface SendRawOptions {
  /** The connection is destroyed after this many ms, and whatever arrived is parsed. */
  timeoutMs?: number;
  /**
   * Writes the request in pieces of this many bytes, `pieceIntervalMs` apart, as a slow client
   * does. Without it the request is written at once.
   */
  pieceBytes?: number;
  pieceIntervalMs?: number;
  /** Bytes written at once before the slow pieces start, such as the whole header block. */
  firstPieceBytes?: number;
  /** Stops writing after this many bytes and keeps the connection open until the server acts. */
  stopAfterBytes?: number;
  /** Closes the connection after writing, for an abandoned request. */
  closeAfterWrite?: boolean;
}

/**
 * Sends raw request bytes to 127.0.0.1:port and resolves when the server closes the
 * connection or the timeout passes. Requests should carry `Connection: close`, so the server
 * closes after its response. Write errors after the server answered (a 413 before the whole
 * body was read) are expected and ignored.
 */
export function sendRaw(
  port: number,
  bytes: Buffer,
  options: SendRawOptions = {},
): Promise<RawResponse> {
  const started = Date.now();
  const timeoutMs = options.timeoutMs ?? 30_000;
  return new Promise((resolveResponse) => {
    const socket = connect({ host: '127.0.0.1', port });
    const received: Buffer[] = [];
    let settled = false;
    let pieceTimer: NodeJS.Timeout | undefined;
    const settle = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(pieceTimer);
      socket.destroy();
      resolveResponse(parseResponse(Buffer.concat(received), Date.now() - started));
    };
    const timer = setTimeout(settle, timeoutMs);
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('end', settle);
    socket.on('close', settle);
    socket.on('error', () => {
      // A reset after the server's answer still leaves that answer in `received`.
      settle();
    });

    const limit = Math.min(bytes.length, options.stopAfterBytes ?? bytes.length);
    socket.once('connect', () => {
      if (options.pieceBytes === undefined) {
        socket.write(bytes.subarray(0, limit));
        if (options.closeAfterWrite) socket.end();
        return;
      }
      const pieceBytes = options.pieceBytes;
      let position = 0;
      let firstPiece = options.firstPieceBytes ?? pieceBytes;
      const writePiece = () => {
        if (settled || socket.destroyed) return;
        const end = Math.min(limit, position + firstPiece);
        firstPiece = pieceBytes;
        socket.write(bytes.subarray(position, end));
        position = end;
        if (position < limit) {
          pieceTimer = setTimeout(writePiece, options.pieceIntervalMs ?? 100);
        } else if (options.closeAfterWrite) {
          socket.end();
        }
      };
      writePiece();
    });
  });
}
