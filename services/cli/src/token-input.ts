import { CliError, CliErrorCodes } from './errors.js';
import type { CliIo } from './io.js';

/** Maximum token length accepted; Page access tokens are a few hundred characters. */
const MAX_TOKEN_LENGTH = 4096;

/**
 * Reads a Page access token from standard input. Tokens are never taken from arguments,
 * because arguments show in process lists and shell history. When stdin is a terminal, the
 * token is read without echo. Otherwise the whole input is read. Surrounding whitespace, such
 * as the newline of `echo`, is removed. Error messages never contain the input.
 */
export async function readTokenFromStdin(io: CliIo): Promise<string> {
  const text =
    io.stdin.isTTY && typeof io.stdin.setRawMode === 'function'
      ? await readHiddenLine(io)
      : await readAll(io.stdin);
  const token = text.trim();

  if (token === '') {
    throw new CliError(
      CliErrorCodes.TOKEN_INPUT_INVALID,
      'no token on standard input; pipe the Page access token in, for example: igr accounts onboard --client ID --token-stdin < token.txt',
    );
  }
  if (token.length > MAX_TOKEN_LENGTH) {
    throw new CliError(
      CliErrorCodes.TOKEN_INPUT_INVALID,
      `the token on standard input has ${token.length} characters, more than the maximum of ${MAX_TOKEN_LENGTH}; pipe in the token alone`,
    );
  }
  if (/\s/.test(token)) {
    throw new CliError(
      CliErrorCodes.TOKEN_INPUT_INVALID,
      'the token on standard input contains whitespace; pipe in one token with nothing else',
    );
  }
  return token;
}

function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer | string) => {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      size += buffer.length;
      // Keep reading past the limit only to count; readTokenFromStdin rejects the length.
      if (size <= MAX_TOKEN_LENGTH * 4) chunks.push(buffer);
    });
    stream.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.once('error', reject);
  });
}

// Reads one line from a terminal in raw mode, so the token is not echoed on the screen.
function readHiddenLine(io: CliIo): Promise<string> {
  const stdin = io.stdin;
  io.stderr.write('Page access token (input hidden): ');
  return new Promise((resolve, reject) => {
    let line = '';
    const finish = (error?: Error) => {
      stdin.removeListener('data', onData);
      stdin.setRawMode?.(false);
      stdin.pause();
      io.stderr.write('\n');
      if (error) reject(error);
      else resolve(line);
    };
    const onData = (chunk: Buffer | string) => {
      for (const character of chunk.toString()) {
        if (character === '\r' || character === '\n' || character === '\u0004') {
          finish();
          return;
        }
        if (character === '\u0003') {
          finish(
            new CliError(CliErrorCodes.TOKEN_INPUT_INVALID, 'token input cancelled with Ctrl-C'),
          );
          return;
        }
        if (character === '\u007f' || character === '\b') {
          line = line.slice(0, -1);
          continue;
        }
        line += character;
      }
    };
    stdin.setRawMode?.(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}
