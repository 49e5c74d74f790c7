// On-device encryption of photos and their metadata (docs/PROTOCOL.md, "Photo
// upload" and "Photo metadata"): AES-256-GCM through WebCrypto.

import { type Bytes, concat, fromUtf8, utf8 } from "./bytes.js";
import { MedShareError } from "./errors.js";

/** The format byte of every v1 envelope. */
export const ENVELOPE_V1 = 0x01;
/** The additional data of an encrypted photo. */
export const PHOTO_AAD = "medshare/v1/photo";
/** The additional data of a photo's encrypted metadata. */
export const METADATA_AAD = "medshare/v1/metadata";
/** The largest encrypted `metadata` the server takes, in bytes. */
export const MAX_METADATA_BYTES = 4096;

const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Bytes an envelope adds to its plaintext: format, nonce and tag. */
export const ENVELOPE_OVERHEAD = 1 + NONCE_BYTES + TAG_BYTES;

/**
 * A photo's metadata, encrypted with the photo's data key before upload so the
 * server never reads it. Readers keep members they do not know.
 */
export interface PhotoMetadata {
  /** The original file name, e.g. "crown-2026-03.jpg". */
  file_name?: string;
  /** Free-text notes. */
  notes?: string;
  [member: string]: unknown;
}

/**
 * Makes a fresh random 256-bit AES-GCM data key for one photo. It is
 * extractable because its raw bytes go to the server once, in the upload
 * request, to be wrapped by the key ring.
 */
export function generateDataKey(): Promise<CryptoKey> {
  return crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, true, ["encrypt", "decrypt"]);
}

/** The raw 32 bytes of an extractable data key. */
export async function exportDataKey(key: CryptoKey): Promise<Bytes> {
  return new Uint8Array(await crypto.subtle.exportKey("raw", key));
}

/** Imports a raw 32-byte data key, non-extractable unless asked. */
export function importDataKey(raw: Uint8Array, extractable = false): Promise<CryptoKey> {
  if (raw.length !== 32) {
    throw new MedShareError({ code: "decrypt_failed", message: `a data key has 32 bytes, not ${raw.length}` });
  }
  return crypto.subtle.importKey("raw", raw as Bytes, { name: "AES-GCM" }, extractable, ["encrypt", "decrypt"]);
}

async function seal(key: CryptoKey, plaintext: Uint8Array, aad: string): Promise<Bytes> {
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  const ct = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv: nonce, additionalData: utf8(aad), tagLength: 128 },
    key,
    plaintext as Bytes,
  );
  return concat(Uint8Array.of(ENVELOPE_V1), nonce, new Uint8Array(ct));
}

async function open(key: CryptoKey, envelope: Uint8Array, aad: string, what: string): Promise<Bytes> {
  if (envelope.length < ENVELOPE_OVERHEAD) {
    throw new MedShareError({ code: "decrypt_failed", message: `${what}: too short for a medshare v1 envelope` });
  }
  if (envelope[0] !== ENVELOPE_V1) {
    throw new MedShareError({ code: "unsupported", message: `${what}: format ${envelope[0]} is not medshare v1` });
  }
  try {
    const pt = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: envelope.subarray(1, 1 + NONCE_BYTES) as Bytes, additionalData: utf8(aad), tagLength: 128 },
      key,
      envelope.subarray(1 + NONCE_BYTES) as Bytes,
    );
    return new Uint8Array(pt);
  } catch (cause) {
    throw new MedShareError({ code: "decrypt_failed", message: `${what}: does not open with this data key`, cause });
  }
}

/**
 * Encrypts a photo: `0x01 || nonce(12) || AES-256-GCM(data_key, nonce, photo,
 * aad = "medshare/v1/photo")`, with a fresh random nonce.
 */
export function encryptPhoto(photo: Uint8Array, dataKey: CryptoKey): Promise<Bytes> {
  return seal(dataKey, photo, PHOTO_AAD);
}

/** Opens what {@link encryptPhoto} made; throws `decrypt_failed` for a wrong key or altered bytes. */
export function decryptPhoto(ciphertext: Uint8Array, dataKey: CryptoKey): Promise<Bytes> {
  return open(dataKey, ciphertext, PHOTO_AAD, "decrypt photo");
}

/**
 * Encrypts a photo's metadata with the photo's data key: the same envelope as
 * the photo, over the metadata's UTF-8 JSON, with aad "medshare/v1/metadata".
 * Throws `payload_too_large` when the result would exceed {@link MAX_METADATA_BYTES}.
 */
export async function encryptMetadata(metadata: PhotoMetadata, dataKey: CryptoKey): Promise<Bytes> {
  const problem = metadataProblem(metadata);
  if (problem) throw new TypeError(problem);
  const plain = utf8(JSON.stringify(metadata));
  if (plain.length + ENVELOPE_OVERHEAD > MAX_METADATA_BYTES) {
    throw new MedShareError({
      code: "payload_too_large",
      message: `encrypted metadata must be at most ${MAX_METADATA_BYTES} bytes (this JSON has ${plain.length})`,
    });
  }
  return seal(dataKey, plain, METADATA_AAD);
}

/** Opens a photo's encrypted metadata with the photo's data key. */
export async function decryptMetadata(ciphertext: Uint8Array, dataKey: CryptoKey): Promise<PhotoMetadata> {
  const plain = await open(dataKey, ciphertext, METADATA_AAD, "decrypt metadata");
  let m: unknown;
  try {
    m = JSON.parse(fromUtf8(plain));
  } catch (cause) {
    throw new MedShareError({ code: "bad_response", message: "decrypt metadata: not UTF-8 JSON", cause });
  }
  if (typeof m !== "object" || m === null || Array.isArray(m)) {
    throw new MedShareError({ code: "bad_response", message: "decrypt metadata: not a JSON object" });
  }
  const problem = metadataProblem(m as PhotoMetadata);
  if (problem) throw new MedShareError({ code: "bad_response", message: `decrypt metadata: ${problem}` });
  return m as PhotoMetadata;
}

function metadataProblem(m: PhotoMetadata): string | undefined {
  for (const k of ["file_name", "notes"] as const) {
    if (m[k] !== undefined && typeof m[k] !== "string") return `metadata.${k} must be a string`;
  }
  return undefined;
}
