import { IgRouterError } from '../errors.js';

/**
 * Default maximum nesting of arrays and objects. Meta's documented webhook bodies nest about ten
 * levels. JSON.stringify overflows the stack between 3,000 and 5,000 levels of arrays (measured
 * on Node 20.20 with the default stack size), and a parsed value must be written out again as an
 * event, so the limit stays well below that.
 */
export const DEFAULT_MAX_JSON_DEPTH = 1000;

export const JsonErrorCodes = {
  INVALID_JSON: 'INVALID_JSON',
  JSON_TOO_DEEP: 'JSON_TOO_DEEP',
} as const;

export type JsonErrorCode = (typeof JsonErrorCodes)[keyof typeof JsonErrorCodes];

/** Raised by `parseJsonLossless` for text that is not JSON or nests too deep. */
export class JsonParseError extends IgRouterError {
  constructor(code: JsonErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'JsonParseError';
  }
}

export interface ParseJsonOptions {
  /** Maximum nesting of arrays and objects; deeper text raises `JSON_TOO_DEEP`. */
  maxDepth?: number;
}

/**
 * Parses JSON like `JSON.parse`, but returns every integer literal with 16 or more digits as a
 * string of its exact digits, minus sign included. Meta sends 17-digit ids as JSON numbers, and
 * a double keeps only 15 to 17 significant digits exactly. Other numbers, strings and duplicate
 * keys (the last one wins) behave as in `JSON.parse`.
 *
 * A linear scan outside strings finds those literals and the nesting depth. When there are
 * none, the text goes to `JSON.parse` unchanged. Otherwise each such literal is wrapped in
 * quotes and the rewritten text goes to `JSON.parse`, which also reports syntax errors.
 *
 * Raises `JsonParseError` with code `INVALID_JSON` (message of `JSON.parse`'s SyntaxError) or
 * `JSON_TOO_DEEP`.
 */
export function parseJsonLossless(text: string, options: ParseJsonOptions = {}): unknown {
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_JSON_DEPTH;
  const literalBounds = findLongIntegerLiterals(text, maxDepth);
  const source = literalBounds.length === 0 ? text : quoteLiterals(text, literalBounds);

  try {
    return JSON.parse(source);
  } catch (error) {
    // NOTE: positions in the message count the added quotes, 2 per long integer literal
    // before the error.
    const reason = error instanceof Error ? error.message : String(error);
    throw new JsonParseError(JsonErrorCodes.INVALID_JSON, `invalid JSON: ${reason}`, {
      cause: error,
    });
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COLON = 0x3a;
const COMMA = 0x2c;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const LOWER_E = 0x65;
const UPPER_E = 0x45;
const START_OF_TEXT = -1;

/** Minimum digits of an integer literal that is returned as a string. */
const MIN_STRING_DIGITS = 16;

function isDigit(code: number): boolean {
  return code >= DIGIT_0 && code <= DIGIT_9;
}

function isJsonWhitespace(code: number): boolean {
  return code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09;
}

function isNumberCharacter(code: number): boolean {
  return (
    isDigit(code) ||
    code === MINUS ||
    code === PLUS ||
    code === DOT ||
    code === LOWER_E ||
    code === UPPER_E
  );
}

/**
 * Returns the start and end offsets (flattened pairs) of every integer literal with 16 or more
 * digits that appears where JSON expects a value. Raises `JSON_TOO_DEEP` past `maxDepth`.
 *
 * Only value positions count: quoting a number in key position (`{123…: 1}`) would turn
 * invalid JSON into valid JSON. A value position is the start of the text or follows `:`, `[`,
 * or a `,` inside an array. Up to the first syntax error this tracking matches JSON's grammar,
 * and nothing after that error can make the text valid, so quoting never changes whether
 * `JSON.parse` accepts the text.
 */
function findLongIntegerLiterals(text: string, maxDepth: number): number[] {
  const bounds: number[] = [];
  const containers: number[] = [];
  const length = text.length;
  let previous = START_OF_TEXT;
  let index = 0;

  while (index < length) {
    const code = text.charCodeAt(index);

    if (code === QUOTE) {
      index = skipString(text, index + 1);
      previous = QUOTE;
      continue;
    }

    if (isJsonWhitespace(code)) {
      index += 1;
      continue;
    }

    if (code === MINUS || isDigit(code)) {
      const start = index;
      index += 1;
      while (index < length && isNumberCharacter(text.charCodeAt(index))) index += 1;
      if (
        index - start >= MIN_STRING_DIGITS &&
        isValuePosition(previous, containers) &&
        isLongIntegerLiteral(text, start, index)
      ) {
        bounds.push(start, index);
      }
      previous = DIGIT_0;
      continue;
    }

    if (code === OPEN_BRACE || code === OPEN_BRACKET) {
      if (containers.length >= maxDepth) {
        throw new JsonParseError(
          JsonErrorCodes.JSON_TOO_DEEP,
          `invalid JSON: nesting too deep (more than ${maxDepth} levels of arrays and objects)`,
        );
      }
      containers.push(code);
    } else if (code === CLOSE_BRACE || code === CLOSE_BRACKET) {
      containers.pop();
    }
    previous = code;
    index += 1;
  }

  return bounds;
}

/** Returns the offset after the closing quote, or the text length for an unterminated string. */
function skipString(text: string, from: number): number {
  let searchFrom = from;
  for (;;) {
    const quote = text.indexOf('"', searchFrom);
    if (quote === -1) return text.length;

    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes += 1;
    if (backslashes % 2 === 0) return quote + 1;
    searchFrom = quote + 1;
  }
}

function isValuePosition(previous: number, containers: number[]): boolean {
  if (previous === START_OF_TEXT || previous === COLON || previous === OPEN_BRACKET) return true;
  return previous === COMMA && containers[containers.length - 1] === OPEN_BRACKET;
}

/** Checks for `-?[1-9][0-9]*` with at least 16 digits: no fraction, no exponent, no leading 0. */
function isLongIntegerLiteral(text: string, start: number, end: number): boolean {
  const firstDigit = text.charCodeAt(start) === MINUS ? start + 1 : start;
  if (end - firstDigit < MIN_STRING_DIGITS || text.charCodeAt(firstDigit) === DIGIT_0) {
    return false;
  }
  for (let index = firstDigit; index < end; index += 1) {
    if (!isDigit(text.charCodeAt(index))) return false;
  }
  return true;
}

function quoteLiterals(text: string, bounds: number[]): string {
  const parts: string[] = [];
  let copiedUpTo = 0;
  for (let pair = 0; pair < bounds.length; pair += 2) {
    const start = bounds[pair] as number;
    const end = bounds[pair + 1] as number;
    parts.push(text.slice(copiedUpTo, start), '"', text.slice(start, end), '"');
    copiedUpTo = end;
  }
  parts.push(text.slice(copiedUpTo));
  return parts.join('');
}
