// A professional's device: an HPKE key pair whose private half never leaves it.
// DHKEM(X25519) and DHKEM(P-256) keys are WebCrypto keys created
// non-extractable; ML-KEM-768+X25519 (X-Wing) is not in WebCrypto, so its
// private key is a 32-byte seed held by the page. HPKE itself is @hpke/core
// (RFC 9180) and @hpke/hybridkem-x-wing, checked against Go's crypto/hpke by
// the tests in both directions.

import { Aes256Gcm, CipherSuite, DhkemP256HkdfSha256, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";
import { XWing } from "@hpke/hybridkem-x-wing";

import { type Bytes, concat, copy, equalBytes, fromBase64, sha256, toHex, utf8 } from "./bytes.js";
import { MedShareError } from "./errors.js";
import { importDataKey } from "./photocrypto.js";
import type { IssuedKey, OwnerKey } from "./types.js";

// The suite and sealed key of an issued key or an owner key.
type SealedSuite = Pick<IssuedKey, "sealed_key" | "kem" | "kdf" | "aead">;

/** DHKEM(X25519, HKDF-SHA256), RFC 9180 KEM id 0x0020. */
export const KEM_X25519 = 0x0020;
/** DHKEM(P-256, HKDF-SHA256), RFC 9180 KEM id 0x0010. */
export const KEM_P256 = 0x0010;
/** ML-KEM-768+X25519 (X-Wing, draft-connolly-cfrg-xwing-kem), KEM id 0x647a, as Go's crypto/hpke. */
export const KEM_XWING = 0x647a;
/** A KEM the server offers. */
export type KemId = typeof KEM_X25519 | typeof KEM_P256 | typeof KEM_XWING;
/** Every KEM the server offers. */
export const KEMS: readonly KemId[] = [KEM_X25519, KEM_P256, KEM_XWING];
/** HKDF-SHA256, the only KDF of the protocol. */
export const KDF_HKDF_SHA256 = 0x0001;
/** AES-256-GCM, the only AEAD of the protocol. */
export const AEAD_AES_256_GCM = 0x0002;

const ENC_SIZE: Record<KemId, number> = { [KEM_X25519]: 32, [KEM_P256]: 65, [KEM_XWING]: 1120 };

const suites = new Map<KemId, CipherSuite>();

function suite(kem: KemId): CipherSuite {
  let s = suites.get(kem);
  if (!s) {
    const k = kem === KEM_X25519 ? new DhkemX25519HkdfSha256() : kem === KEM_P256 ? new DhkemP256HkdfSha256() : new XWing();
    s = new CipherSuite({ kem: k, kdf: new HkdfSha256(), aead: new Aes256Gcm() });
    suites.set(kem, s);
  }
  return s;
}

function checkKem(kem: number): KemId {
  if (!KEMS.includes(kem as KemId)) {
    throw new MedShareError({ code: "unsupported", message: `KEM ${kem} is not one the protocol offers` });
  }
  return kem as KemId;
}

function webCryptoAlgorithm(kem: KemId): EcKeyGenParams | Algorithm {
  return kem === KEM_X25519 ? { name: "X25519" } : { name: "ECDH", namedCurve: "P-256" };
}

/** The HPKE info of a sealed photo key: "medshare/v1/key" 0x00 key_id 0x00 photo_id 0x00 access_id. */
export function keyInfo(keyId: string, photoId: string, accessId: string): Bytes {
  const z = Uint8Array.of(0);
  return concat(utf8("medshare/v1/key"), z, utf8(keyId), z, utf8(photoId), z, utf8(accessId));
}

/**
 * The HPKE info of a patient's own photo key sealed to their device (the
 * owner route): "medshare/v1/owner-key" 0x00 photo_id 0x00 owner_id. Its
 * label differs from {@link keyInfo}'s, so an owner key is never taken for a
 * key issued on a share.
 */
export function ownerKeyInfo(photoId: string, ownerId: string): Bytes {
  const z = Uint8Array.of(0);
  return concat(utf8("medshare/v1/owner-key"), z, utf8(photoId), z, utf8(ownerId));
}

/**
 * HPKE base mode, single shot, to a public key: `enc || ciphertext`, KDF
 * HKDF-SHA256, AEAD AES-256-GCM, no AAD. The server seals photo keys this way;
 * the client needs it only to test interoperability.
 */
export async function hpkeSeal(kem: KemId, publicKey: Uint8Array, info: Uint8Array, plaintext: Uint8Array): Promise<Bytes> {
  const s = suite(checkKem(kem));
  const pk = await s.kem.deserializePublicKey(copy(publicKey));
  const { ct, enc } = await s.seal({ recipientPublicKey: pk, info: copy(info) }, copy(plaintext));
  return concat(new Uint8Array(enc), new Uint8Array(ct));
}

/**
 * What a {@link DeviceStore} keeps of a device: structured-cloneable, so
 * IndexedDB stores the CryptoKey objects themselves. For X25519 and P-256 the
 * private key is a non-extractable CryptoKey: page scripts can use it but never
 * read it. For ML-KEM-768+X25519 it is the 32-byte seed, readable by the page
 * (WebCrypto has no ML-KEM).
 */
export interface StoredDevice {
  v: 1;
  kem: KemId;
  /** The KEM's serialized public key. */
  public_key: Uint8Array;
  /** "sha256:" and the hex SHA-256 of the KEM id (2 bytes, big-endian) and the public key. */
  fingerprint: string;
  created_at: string;
  /** X25519 and P-256: the key pair, the private key non-extractable. */
  key_pair?: CryptoKeyPair;
  /** ML-KEM-768+X25519: the private key's 32-byte seed. */
  seed?: Uint8Array;
}

/** Where devices are kept between visits; see {@link IndexedDBDeviceStore} and {@link MemoryDeviceStore}. */
export interface DeviceStore {
  /** The device stored under name, or undefined. */
  get(name: string): Promise<StoredDevice | undefined>;
  /** Stores d under name, replacing any device there. */
  put(name: string, d: StoredDevice): Promise<void>;
  /** Removes the device stored under name, if any. */
  delete(name: string): Promise<void>;
}

/**
 * A professional's device key. Create one with {@link Device.create} (or
 * {@link Device.loadOrCreate} to keep it in a {@link DeviceStore}), open an
 * access with its public key, and open the photo keys sealed to it.
 */
export class Device {
  /** The HPKE KEM id. */
  readonly kem: KemId;
  /** The serialized public key, what `open-access` registers. */
  readonly publicKey: Bytes;
  /** The device's fingerprint, which is also how the server binds it. */
  readonly fingerprint: string;
  /** When the key was made (RFC 3339). */
  readonly createdAt: string;
  private readonly recipient: CryptoKeyPair;
  private readonly seed: Bytes | undefined;

  private constructor(kem: KemId, publicKey: Bytes, fingerprint: string, createdAt: string, recipient: CryptoKeyPair, seed?: Bytes) {
    this.kem = kem;
    this.publicKey = publicKey;
    this.fingerprint = fingerprint;
    this.createdAt = createdAt;
    this.recipient = recipient;
    this.seed = seed;
  }

  /**
   * Makes a new device key. X25519 and P-256 keys are generated by WebCrypto
   * with `extractable: false`; an ML-KEM-768+X25519 key from 32 random bytes.
   */
  static async create(kem: KemId = KEM_X25519): Promise<Device> {
    checkKem(kem);
    const createdAt = new Date().toISOString();
    if (kem === KEM_XWING) {
      const seed = crypto.getRandomValues(new Uint8Array(32));
      return Device.fromSeed(seed, createdAt);
    }
    const pair = (await crypto.subtle.generateKey(webCryptoAlgorithm(kem), false, ["deriveBits"])) as CryptoKeyPair;
    const pub = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    return new Device(kem, pub, await fingerprintOf(kem, pub), createdAt, pair);
  }

  private static async fromSeed(seed: Uint8Array, createdAt: string): Promise<Device> {
    const s = suite(KEM_XWING);
    const pair = await (s.kem as XWing).generateKeyPairDerand(copy(seed));
    const pub = new Uint8Array(await s.kem.serializePublicKey(pair.publicKey));
    return new Device(KEM_XWING, pub, await fingerprintOf(KEM_XWING, pub), createdAt, pair, copy(seed));
  }

  /** Rebuilds a device from what a {@link DeviceStore} kept, checking that its parts agree. */
  static async fromStored(d: StoredDevice): Promise<Device> {
    const kem = checkKem(d.kem);
    let dev: Device;
    if (kem === KEM_XWING) {
      if (!d.seed) throw new MedShareError({ code: "unsupported", message: "stored device: no seed" });
      dev = await Device.fromSeed(d.seed, d.created_at);
    } else {
      if (!d.key_pair) throw new MedShareError({ code: "unsupported", message: "stored device: no key pair" });
      const pub = new Uint8Array(await crypto.subtle.exportKey("raw", d.key_pair.publicKey));
      dev = new Device(kem, pub, await fingerprintOf(kem, pub), d.created_at, d.key_pair);
    }
    if (!equalBytes(dev.publicKey, d.public_key) || dev.fingerprint !== d.fingerprint) {
      throw new MedShareError({ code: "unsupported", message: "stored device: the public key does not match the private key" });
    }
    return dev;
  }

  /**
   * Loads the device kept under name in store, or makes one for kem and keeps
   * it. A stored device of another KEM is replaced.
   */
  static async loadOrCreate(store: DeviceStore, name: string, kem: KemId = KEM_X25519): Promise<Device> {
    const stored = await store.get(name);
    if (stored && stored.kem === kem) return Device.fromStored(stored);
    const dev = await Device.create(kem);
    await store.put(name, dev.toStored());
    return dev;
  }

  /** What a {@link DeviceStore} keeps of this device. */
  toStored(): StoredDevice {
    const d: StoredDevice = {
      v: 1,
      kem: this.kem,
      public_key: copy(this.publicKey),
      fingerprint: this.fingerprint,
      created_at: this.createdAt,
    };
    if (this.seed) d.seed = copy(this.seed);
    else d.key_pair = this.recipient;
    return d;
  }

  /**
   * Whether page scripts could read the private key: false for X25519 and
   * P-256 (a non-extractable CryptoKey), true for ML-KEM-768+X25519.
   */
  get privateKeyReadable(): boolean {
    return this.seed !== undefined || this.recipient.privateKey.extractable;
  }

  /**
   * HPKE base mode, single shot: opens `enc || ciphertext` sealed to this
   * device with KDF HKDF-SHA256, AEAD AES-256-GCM and no AAD.
   */
  async open(sealed: Uint8Array, info: Uint8Array): Promise<Bytes> {
    const n = ENC_SIZE[this.kem];
    if (sealed.length <= n) throw new MedShareError({ code: "decrypt_failed", message: "sealed key too short" });
    try {
      const pt = await suite(this.kem).open(
        { recipientKey: this.recipient, enc: copy(sealed.subarray(0, n)), info: copy(info) },
        copy(sealed.subarray(n)),
      );
      return new Uint8Array(pt);
    } catch (cause) {
      throw new MedShareError({ code: "decrypt_failed", message: "the sealed key does not open on this device", cause });
    }
  }

  /**
   * Opens an issued photo key, checking its suite, and returns the photo's
   * data key as a non-extractable AES-GCM key: the raw bytes are wiped at once.
   */
  openKey(k: IssuedKey, accessId: string): Promise<CryptoKey> {
    return this.openDataKey(k, k.key_id, keyInfo(k.key_id, k.photo_id, accessId));
  }

  /**
   * Opens a patient's own photo key ({@link OwnerKey}, the owner route) with
   * the owner's user id, and returns the data key as a non-extractable
   * AES-GCM key, like {@link openKey}.
   */
  openOwnerKey(k: OwnerKey, ownerId: string): Promise<CryptoKey> {
    return this.openDataKey(k, k.photo_id, ownerKeyInfo(k.photo_id, ownerId));
  }

  private async openDataKey(k: SealedSuite, what: string, info: Bytes): Promise<CryptoKey> {
    if (k.kem !== this.kem || k.kdf !== KDF_HKDF_SHA256 || k.aead !== AEAD_AES_256_GCM) {
      throw new MedShareError({
        code: "unsupported",
        message: `key ${what}: suite ${k.kem}/${k.kdf}/${k.aead} is not this device's ${this.kem}/1/2`,
      });
    }
    let sealed: Bytes;
    try {
      sealed = fromBase64(k.sealed_key);
    } catch (cause) {
      throw new MedShareError({ code: "bad_response", message: `key ${what}: sealed_key is not base64`, cause });
    }
    const raw = await this.open(sealed, info);
    try {
      return await importDataKey(raw);
    } finally {
      raw.fill(0);
    }
  }
}

async function fingerprintOf(kem: KemId, publicKey: Uint8Array): Promise<string> {
  return "sha256:" + toHex(await sha256(concat(Uint8Array.of(kem >> 8, kem & 0xff), publicKey)));
}
