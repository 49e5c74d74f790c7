// Byte helpers that work the same in browsers and Node (no Buffer).

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** A Uint8Array backed by a plain ArrayBuffer, as WebCrypto wants. */
export type Bytes = Uint8Array<ArrayBuffer>;

/** UTF-8 encoding of s. */
export function utf8(s: string): Bytes {
  return encoder.encode(s) as Bytes;
}

/** Decodes UTF-8; throws on invalid sequences. */
export function fromUtf8(b: Uint8Array): string {
  return decoder.decode(b);
}

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Bytes {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** A copy of b in a fresh ArrayBuffer of its own. */
export function copy(b: Uint8Array | ArrayBuffer): Bytes {
  return new Uint8Array(b instanceof ArrayBuffer ? b.slice(0) : b.slice());
}

/** Standard base64 with padding (RFC 4648 §4), the protocol's encoding of binary values. */
export function toBase64(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 0x8000) {
    s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes standard base64 with padding; throws a TypeError on anything else. */
export function fromBase64(s: string): Bytes {
  if (!B64.test(s)) throw new TypeError("not standard base64");
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Lowercase hex. */
export function toHex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

/** Constant-time-ish equality of two byte arrays (no early exit on content). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

/** SHA-256 of data through WebCrypto. */
export async function sha256(data: Uint8Array): Promise<Bytes> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data as Bytes));
}
