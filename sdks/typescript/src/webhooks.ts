/**
 * Verifying push requests (`X-Chronos-Signature`), with Web Crypto: runs on Node ≥ 18, Deno,
 * Bun, Cloudflare Workers, Vercel and other edge runtimes.
 *
 * Chronos signs every push request with the account's signing secret:
 *
 *     X-Chronos-Signature: t=1767225600,v1=5f2b…
 *
 * `v1` is the hex HMAC-SHA256 of `"<t>.<raw body>"`. Right after a rotation the header carries
 * one `v1=` per valid secret (new first), so a receiver holding either secret accepts it.
 * Same rules as the Python SDK's `chronos.webhooks.verify`:
 *
 * ```ts
 * const raw = await request.text();                       // the raw body, before any JSON parse
 * await verifyWebhook(raw, request.headers, process.env.CHRONOS_SIGNING_SECRET!);  // throws InvalidSignature
 * const envelope = JSON.parse(raw);
 * ```
 */

export const SIGNATURE_HEADER = 'X-Chronos-Signature';

/** The request was not signed by Chronos with this secret, or is too old. */
export class InvalidSignature extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidSignature';
  }
}

/** Anything that holds headers: a Fetch `Headers`, Node's `req.headers`, a plain object, a
 * `Map` or `[name, value]` pairs. Names are matched case-insensitively. */
export type HeadersLike =
  Headers | Record<string, string | string[] | undefined> | Iterable<readonly [string, string]>;

export type RawBody = string | Uint8Array | ArrayBuffer;

export interface VerifyOptions {
  /** Seconds the signature's timestamp may be off from now (default 300). */
  tolerance?: number;
  /** "Now", for tests. */
  now?: Date;
}

const encoder = new TextEncoder();

function bytes(body: RawBody): Uint8Array {
  if (typeof body === 'string') return encoder.encode(body);
  return body instanceof Uint8Array ? body : new Uint8Array(body);
}

function toHex(buffer: ArrayBuffer): string {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The hex HMAC-SHA256 of `"<timestamp>.<body>"` under `secret`. */
export async function computeSignature(
  secret: string,
  timestamp: number,
  body: RawBody,
): Promise<string> {
  const key = await crypto.subtle.importKey(
    'raw',
    encoder.encode(secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  const prefix = encoder.encode(`${timestamp}.`);
  const raw = bytes(body);
  const message = new Uint8Array(prefix.length + raw.length);
  message.set(prefix, 0);
  message.set(raw, prefix.length);
  return toHex(await crypto.subtle.sign('HMAC', key, message));
}

/** A header value as Chronos sends it (for your tests): `t=<ts>,v1=<sig>[,v1=<sig>…]`. */
export async function signatureHeader(
  secrets: string[],
  timestamp: number,
  body: RawBody,
): Promise<string> {
  const signatures = await Promise.all(secrets.map((s) => computeSignature(s, timestamp, body)));
  return [`t=${timestamp}`, ...signatures.map((s) => `v1=${s}`)].join(',');
}

/** `t` and every `v1` of a header value; throws InvalidSignature when either is missing. */
export function parseSignatureHeader(value: string): { timestamp: number; signatures: string[] } {
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of value.split(',')) {
    const trimmed = part.trim();
    const at = trimmed.indexOf('=');
    const key = at < 0 ? trimmed : trimmed.slice(0, at);
    const item = at < 0 ? '' : trimmed.slice(at + 1);
    if (key === 't' && /^[0-9]+$/.test(item)) timestamp = Number(item);
    else if (key === 'v1' && item) signatures.push(item);
  }
  if (timestamp === undefined || signatures.length === 0) {
    throw new InvalidSignature('malformed X-Chronos-Signature header');
  }
  return { timestamp, signatures };
}

function header(headers: HeadersLike, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function' && !(headers instanceof Map)) {
    return (headers as Headers).get(name) ?? undefined;
  }
  const wanted = name.toLowerCase();
  const entries: Iterable<readonly [string, unknown]> =
    Symbol.iterator in headers
      ? (headers as Iterable<readonly [string, string]>)
      : Object.entries(headers as Record<string, unknown>);
  for (const [key, value] of entries) {
    if (key.toLowerCase() !== wanted) continue;
    if (Array.isArray(value)) return value.join(',');
    if (typeof value === 'string') return value;
  }
  return undefined;
}

/** Compares two strings in time that depends only on their length (both are hex digests). */
function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}

/**
 * Resolve when `rawBody` carries a valid, fresh Chronos signature made with `secret`; reject
 * with {@link InvalidSignature} otherwise. Pass the body exactly as received (a string or the
 * bytes), not a re-serialized JSON object.
 */
export async function verifyWebhook(
  rawBody: RawBody,
  headers: HeadersLike,
  secret: string,
  options: VerifyOptions = {},
): Promise<void> {
  const value = header(headers, SIGNATURE_HEADER);
  if (value === undefined) throw new InvalidSignature('missing X-Chronos-Signature header');
  const { timestamp, signatures } = parseSignatureHeader(value);
  const now = (options.now ?? new Date()).getTime() / 1000;
  if (Math.abs(now - timestamp) > (options.tolerance ?? 300)) {
    throw new InvalidSignature('signature timestamp is outside the tolerance');
  }
  const expected = await computeSignature(secret, timestamp, rawBody);
  // Every candidate is compared (no early exit), each in constant time.
  let matched = false;
  for (const candidate of signatures) matched = constantTimeEqual(expected, candidate) || matched;
  if (!matched) throw new InvalidSignature('no signature matches the secret');
}
