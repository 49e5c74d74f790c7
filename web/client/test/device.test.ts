// Device keys and HPKE: interoperability with Go's crypto/hpke in both
// directions for the three KEMs, non-extractable WebCrypto keys, and the
// device stores.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { indexedDB as fakeIndexedDB } from "fake-indexeddb";

import {
  Device,
  IndexedDBDeviceStore,
  KEMS,
  KEM_P256,
  KEM_X25519,
  KEM_XWING,
  MemoryDeviceStore,
  fromBase64,
  hpkeSeal,
  keyInfo,
  sha256,
  toBase64,
  toHex,
  type KemId,
} from "../src/index.js";
import { goInterop } from "./harness.js";

const NAMES: Record<KemId, string> = { [KEM_X25519]: "DHKEM(X25519)", [KEM_P256]: "DHKEM(P-256)", [KEM_XWING]: "ML-KEM-768+X25519" };
const PUBLIC_SIZE: Record<KemId, number> = { [KEM_X25519]: 32, [KEM_P256]: 65, [KEM_XWING]: 1216 };
const SEALED_SIZE: Record<KemId, number> = { [KEM_X25519]: 80, [KEM_P256]: 113, [KEM_XWING]: 1168 };

const dataKey = () => crypto.getRandomValues(new Uint8Array(32));

describe("HPKE interoperability with Go's crypto/hpke", () => {
  for (const kem of KEMS) {
    test(`${NAMES[kem]}: Go seals to a TypeScript device key, TypeScript opens`, async () => {
      const dev = await Device.create(kem);
      assert.equal(dev.publicKey.length, PUBLIC_SIZE[kem]);
      const info = keyInfo("ke_1", "ph_2", "ac_3");
      const pt = dataKey();
      const { sealed } = await goInterop("seal", "-kem", String(kem), "-public", toBase64(dev.publicKey),
        "-info", toBase64(info), "-plaintext", toBase64(pt));
      const ct = fromBase64(sealed as string);
      assert.equal(ct.length, SEALED_SIZE[kem]);
      assert.deepEqual(await dev.open(ct, info), pt);
      // The info binds the key to its key, photo and access ids.
      await assert.rejects(dev.open(ct, keyInfo("ke_1", "ph_2", "ac_4")), { code: "decrypt_failed" });
      const other = await Device.create(kem);
      await assert.rejects(other.open(ct, info), { code: "decrypt_failed" });
    });

    test(`${NAMES[kem]}: TypeScript seals to a Go key, Go opens`, async () => {
      const key = await goInterop("keygen", "-kem", String(kem));
      const info = keyInfo("ke_9", "ph_8", "ac_7");
      const pt = dataKey();
      const sealed = await hpkeSeal(kem, fromBase64(key.public as string), info, pt);
      assert.equal(sealed.length, SEALED_SIZE[kem]);
      const { plaintext } = await goInterop("open", "-kem", String(kem), "-private", key.private as string,
        "-info", toBase64(info), "-sealed", toBase64(sealed));
      assert.deepEqual(fromBase64(plaintext as string), pt);
    });
  }

  test("ML-KEM-768+X25519: a Go private seed gives the same public key here (X-Wing key derivation)", async () => {
    const key = await goInterop("keygen", "-kem", String(KEM_XWING));
    const pub = fromBase64(key.public as string);
    const fp = "sha256:" + toHex(await sha256(Uint8Array.of(0x64, 0x7a, ...pub)));
    const dev = await Device.fromStored({ v: 1, kem: KEM_XWING, seed: fromBase64(key.private as string),
      public_key: pub, fingerprint: fp, created_at: new Date().toISOString() });
    assert.deepEqual(dev.publicKey, pub);
  });
});

describe("device keys", () => {
  for (const kem of [KEM_X25519, KEM_P256] as const) {
    test(`${NAMES[kem]}: the private key is a non-extractable WebCrypto key`, async () => {
      const dev = await Device.create(kem);
      assert.equal(dev.privateKeyReadable, false);
      const { key_pair } = dev.toStored();
      assert.ok(key_pair);
      assert.equal(key_pair.privateKey.extractable, false);
      assert.deepEqual(key_pair.privateKey.usages, ["deriveBits"]);
      for (const format of ["pkcs8", "jwk", "raw"] as const) {
        await assert.rejects(crypto.subtle.exportKey(format, key_pair.privateKey), (e: unknown) => e instanceof Error, format);
      }
    });
  }

  test("ML-KEM-768+X25519: the private key is a seed the page can read (WebCrypto has no ML-KEM)", async () => {
    const dev = await Device.create(KEM_XWING);
    assert.equal(dev.privateKeyReadable, true);
    assert.equal(dev.toStored().seed?.length, 32);
  });

  test("the fingerprint is the server's: SHA-256 of the KEM id and the public key", async () => {
    const dev = await Device.create(KEM_P256);
    assert.equal(dev.fingerprint, "sha256:" + toHex(await sha256(Uint8Array.of(0x00, 0x10, ...dev.publicKey))));
  });

  test("openKey checks the suite before opening", async () => {
    const dev = await Device.create(KEM_X25519);
    const k = { key_id: "ke_1", photo_id: "ph_1", sealed_key: "AAAA", kem: KEM_X25519, kdf: 1, aead: 2, expires_at: "" };
    await assert.rejects(dev.openKey({ ...k, kem: KEM_P256 }, "ac_1"), { code: "unsupported" });
    await assert.rejects(dev.openKey({ ...k, aead: 1 }, "ac_1"), { code: "unsupported" });
    await assert.rejects(dev.openKey({ ...k, kdf: 2 }, "ac_1"), { code: "unsupported" });
    await assert.rejects(dev.openKey({ ...k, sealed_key: "not base64" }, "ac_1"), { code: "bad_response" });
  });

  test("a stored device whose public key does not match is refused", async () => {
    const a = (await Device.create(KEM_X25519)).toStored();
    const b = (await Device.create(KEM_X25519)).toStored();
    await assert.rejects(Device.fromStored({ ...a, public_key: b.public_key }), { code: "unsupported" });
    await assert.rejects(Device.fromStored({ ...a, key_pair: b.key_pair! }), { code: "unsupported" });
  });
});

describe("device stores", () => {
  const stores = {
    memory: () => new MemoryDeviceStore(),
    // fake-indexeddb clones values with structuredClone, as browsers do.
    indexeddb: () => new IndexedDBDeviceStore({ database: "medshare-test-" + Math.random(), indexedDB: fakeIndexedDB }),
  };
  for (const [name, make] of Object.entries(stores)) {
    for (const kem of KEMS) {
      test(`${name}: a ${NAMES[kem]} device survives a reload and still opens keys sealed by Go`, async () => {
        const store = make();
        const dev = await Device.loadOrCreate(store, "pro", kem);
        const again = await Device.loadOrCreate(store, "pro", kem);
        assert.deepEqual(again.publicKey, dev.publicKey, "the same device comes back");
        assert.equal(again.fingerprint, dev.fingerprint);
        if (kem !== KEM_XWING) {
          const stored = await store.get("pro");
          assert.equal(stored?.key_pair?.privateKey.extractable, false, "still non-extractable after the store");
          await assert.rejects(crypto.subtle.exportKey("pkcs8", stored!.key_pair!.privateKey));
        }
        const info = keyInfo("ke_1", "ph_1", "ac_1");
        const pt = dataKey();
        const { sealed } = await goInterop("seal", "-kem", String(kem), "-public", toBase64(dev.publicKey),
          "-info", toBase64(info), "-plaintext", toBase64(pt));
        assert.deepEqual(await again.open(fromBase64(sealed as string), info), pt);
        // Another KEM under the same name replaces it; delete removes it.
        const other = await Device.loadOrCreate(store, "pro", kem === KEM_X25519 ? KEM_P256 : KEM_X25519);
        assert.notEqual(other.kem, dev.kem);
        await store.delete("pro");
        assert.equal(await store.get("pro"), undefined);
        if (store instanceof IndexedDBDeviceStore) await store.close();
      });
    }
  }
});
