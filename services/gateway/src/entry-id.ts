/**
 * Extraction of the `ig.raw` record key: the `id` of the first element of the body's top-level
 * `entry` array.
 *
 * Ids are kept as strings end to end. Meta sends `entry[].id` as a JSON string, but a JSON
 * number is accepted too. A number id is taken as its digits from the raw text, because
 * JSON.parse rounds integers above 2^53 (17+ digit ids). A number token that is not plain
 * digits (a sign, fraction or exponent) is not an id and gives no key.
 */

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isDigits(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/**
 * Returns the first `entry[].id` of a webhook body as a string, or null when the body is not
 * JSON, has no `entry` array, or its first entry has no string or integer `id`.
 */
export function firstEntryId(body: Buffer): string | null {
  let text = body.toString('utf8');
  // The router's decoder drops a leading byte order mark, so the key must be found past it too.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }

  if (!isObject(parsed) || !Array.isArray(parsed.entry)) return null;
  const first: unknown = parsed.entry[0];
  if (!isObject(first)) return null;

  const id = first.id;
  if (typeof id === 'string') return id.length > 0 ? id : null;
  if (typeof id !== 'number') return null;
  const token = rawFirstEntryIdToken(text);
  return token !== undefined && isDigits(token) ? token : null;
}

/**
 * Returns the raw text of the first entry's `id` value. The text must already have passed
 * JSON.parse, so the scanner does not check syntax. Like JSON.parse, it takes the last of
 * duplicate member names.
 */
export function rawFirstEntryIdToken(text: string): string | undefined {
  const start = skipWhitespace(text, 0);
  if (text[start] !== '{') return undefined;

  const entryStart = lastMemberValueStart(text, start, 'entry');
  if (entryStart === undefined || text[entryStart] !== '[') return undefined;

  const firstEntryStart = skipWhitespace(text, entryStart + 1);
  if (text[firstEntryStart] !== '{') return undefined;

  const idStart = lastMemberValueStart(text, firstEntryStart, 'id');
  if (idStart === undefined) return undefined;
  return text.slice(idStart, skipValue(text, idStart));
}

/** Returns the index where the value of the last member `name` of the object at `objectStart` starts. */
function lastMemberValueStart(text: string, objectStart: number, name: string): number | undefined {
  let i = skipWhitespace(text, objectStart + 1);
  if (text[i] === '}') return undefined;

  let found: number | undefined;
  for (;;) {
    const keyEnd = skipString(text, i);
    const key = decodeKey(text.slice(i, keyEnd));
    const colon = skipWhitespace(text, keyEnd);
    const valueStart = skipWhitespace(text, colon + 1);
    if (key === name) found = valueStart;

    i = skipWhitespace(text, skipValue(text, valueStart));
    if (text[i] !== ',') return found;
    i = skipWhitespace(text, i + 1);
  }
}

/** Decodes a member name token, which may spell `entry` with escapes such as `\u0065ntry`. */
function decodeKey(token: string): string {
  return token.includes('\\') ? (JSON.parse(token) as string) : token.slice(1, -1);
}

function skipWhitespace(text: string, from: number): number {
  let i = from;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    // JSON whitespace: space, tab, line feed, carriage return.
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
    i++;
  }
  return i;
}

/** Returns the index after the string that starts at `from` (an opening quote). */
function skipString(text: string, from: number): number {
  let i = from + 1;
  while (i < text.length) {
    const c = text[i];
    if (c === '\\') {
      i += 2;
      continue;
    }
    if (c === '"') return i + 1;
    i++;
  }
  return i;
}

/** Returns the index after the value that starts at `from`. */
function skipValue(text: string, from: number): number {
  const c = text[from];
  if (c === '"') return skipString(text, from);
  if (c !== '{' && c !== '[') {
    // Number, true, false or null: runs until a delimiter.
    let i = from;
    while (i < text.length) {
      const d = text[i];
      if (
        d === ',' ||
        d === '}' ||
        d === ']' ||
        d === ' ' ||
        d === '\t' ||
        d === '\n' ||
        d === '\r'
      ) {
        break;
      }
      i++;
    }
    return i;
  }

  let depth = 0;
  let i = from;
  while (i < text.length) {
    const d = text[i];
    if (d === '"') {
      i = skipString(text, i);
      continue;
    }
    if (d === '{' || d === '[') depth++;
    if (d === '}' || d === ']') {
      depth--;
      if (depth === 0) return i + 1;
    }
    i++;
  }
  return i;
}
