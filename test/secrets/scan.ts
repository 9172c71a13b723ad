// Searches captured text for secrets in the encodings a leak usually takes: as is,
// URL-encoded, hex, and base64 or base64url at any byte alignment. A secret inside a larger
// base64 value, such as a dead letter's `raw_base64`, can start at any of three offsets.

export interface SecretForm {
  /** Name of the secret, such as `appSecret`. */
  secret: string;
  /** Encoding of this form, such as `base64+1`. */
  encoding: string;
  value: string;
}

export interface SecretHit {
  source: string;
  secret: string;
  encoding: string;
  /** Character offset of the hit in the source text. */
  offset: number;
}

/** Shortest encoded form searched for, because shorter ones would match by chance. */
const MIN_FORM_LENGTH = 8;

/**
 * Returns the base64 characters that encode `bytes` alike wherever they sit in a longer value
 * after `leading` other bytes: the groups of 4 characters that contain only bytes of `bytes`.
 */
function alignedBase64(bytes: Buffer, leading: number, urlSafe: boolean): string {
  const padded = Buffer.concat([Buffer.alloc(leading), bytes]);
  const encoded = padded.toString(urlSafe ? 'base64url' : 'base64');
  const firstGroup = Math.ceil(leading / 3);
  const lastGroup = Math.floor(padded.length / 3);
  return encoded.slice(firstGroup * 4, lastGroup * 4);
}

/** Returns every searched form of each secret, skipping empty secrets. */
export function secretForms(secrets: Record<string, string>): SecretForm[] {
  const forms: SecretForm[] = [];
  for (const [secret, value] of Object.entries(secrets)) {
    if (value.length === 0) continue;
    const bytes = Buffer.from(value, 'utf8');
    const candidates: Array<[string, string]> = [
      ['raw', value],
      ['url-encoded', encodeURIComponent(value)],
      ['hex', bytes.toString('hex')],
      ['json-escaped', JSON.stringify(value).slice(1, -1)],
    ];
    for (const leading of [0, 1, 2]) {
      candidates.push([`base64+${leading}`, alignedBase64(bytes, leading, false)]);
      candidates.push([`base64url+${leading}`, alignedBase64(bytes, leading, true)]);
    }
    const seen = new Set<string>();
    for (const [encoding, form] of candidates) {
      if (form.length < MIN_FORM_LENGTH || seen.has(form)) continue;
      seen.add(form);
      forms.push({ secret, encoding, value: form });
    }
  }
  return forms;
}

/**
 * Returns each place where a form occurs. Hex is matched without regard to case. The hit names
 * the source, secret and encoding but never repeats the secret.
 */
export function scanForSecrets(
  evidence: Array<{ source: string; text: string }>,
  forms: SecretForm[],
): SecretHit[] {
  const hits: SecretHit[] = [];
  for (const item of evidence) {
    const lower = item.text.toLowerCase();
    for (const form of forms) {
      const offset =
        form.encoding === 'hex'
          ? lower.indexOf(form.value.toLowerCase())
          : item.text.indexOf(form.value);
      if (offset >= 0) {
        hits.push({ source: item.source, secret: form.secret, encoding: form.encoding, offset });
      }
    }
  }
  return hits;
}
