// Unit tests: the photo and metadata envelopes (with the vectors the Go
// client pins), base64, the audit hash, the error type.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  ENVELOPE_OVERHEAD,
  MAX_METADATA_BYTES,
  MedShareError,
  auditRecordHash,
  canonicalAuditJson,
  decryptMetadata,
  decryptPhoto,
  encryptMetadata,
  encryptPhoto,
  exportDataKey,
  fromBase64,
  generateDataKey,
  importDataKey,
  isMedShareError,
  parseRetryAfter,
  toBase64,
  verifyAuditRecords,
  type AuditRecord,
} from "../src/index.js";

const hex = (s: string) => Uint8Array.from(s.match(/../g)!.map((b) => parseInt(b, 16)));
const text = (b: Uint8Array) => new TextDecoder().decode(b);

// The vectors of client/client_test.go (TestEnvelopeVectors): key 00..1f, nonce a0..ab.
const VECTOR_KEY = Uint8Array.from({ length: 32 }, (_, i) => i);
const VECTOR_PHOTO_HEX =
  "01a0a1a2a3a4a5a6a7a8a9aaab8b7d185e2daa70da4215efbc7315e0a815cf2d7fe0cd1d9d2bffb467c97a0b576cbe22e56a";
const VECTOR_METADATA_HEX =
  "01a0a1a2a3a4a5a6a7a8a9aaab9d3a1a4429ae5dd10308e2f13d58a3ac1fdb373ef8c7254eb02c48e90bce0623e8542b9ac95673493af174a46c56a3ca6776292616b8695c3c05983577dd7d4ea2b9a84748001f2f4d";

describe("photo envelope", () => {
  test("round trip in the format 0x01 || nonce(12) || AES-256-GCM(photo) || tag", async () => {
    const key = await generateDataKey();
    const photo = new TextEncoder().encode("jpeg ".repeat(1000));
    const ct = await encryptPhoto(photo, key);
    assert.equal(ct[0], 0x01);
    assert.equal(ct.length, 1 + 12 + photo.length + 16);
    assert.deepEqual(await decryptPhoto(ct, key), photo);
    const again = await encryptPhoto(photo, key);
    assert.notDeepEqual(again.subarray(1, 13), ct.subarray(1, 13), "a fresh nonce per encryption");
  });

  test("a wrong key, a flipped byte, a truncated or unknown envelope does not open", async () => {
    const key = await generateDataKey();
    const ct = await encryptPhoto(new Uint8Array(100), key);
    await assert.rejects(decryptPhoto(ct, await generateDataKey()), { code: "decrypt_failed" });
    for (const i of [5, 20, ct.length - 1]) {
      const bad = ct.slice();
      bad[i]! ^= 1;
      await assert.rejects(decryptPhoto(bad, key), { code: "decrypt_failed" }, `byte ${i} flipped`);
    }
    await assert.rejects(decryptPhoto(ct.subarray(0, 20), key), { code: "decrypt_failed" });
    const v2 = ct.slice();
    v2[0] = 2;
    await assert.rejects(decryptPhoto(v2, key), { code: "unsupported" });
  });

  test("opens the Go client's pinned vector", async () => {
    const key = await importDataKey(VECTOR_KEY);
    assert.equal(text(await decryptPhoto(hex(VECTOR_PHOTO_HEX), key)), "medshare photo vector");
  });

  test("a data key is 32 random bytes; imported keys are not extractable", async () => {
    const raw = await exportDataKey(await generateDataKey());
    assert.equal(raw.length, 32);
    const k = await importDataKey(raw);
    assert.equal(k.extractable, false);
    await assert.rejects(crypto.subtle.exportKey("raw", k));
    assert.throws(() => importDataKey(new Uint8Array(16)), { code: "decrypt_failed" });
  });
});

describe("metadata envelope", () => {
  test("round trip; the same format as the photo with aad medshare/v1/metadata", async () => {
    const key = await generateDataKey();
    const meta = { file_name: "Jane <Doe> & co.jpg", notes: "melanoma, left temple", future_member: 3 };
    const ct = await encryptMetadata(meta, key);
    assert.equal(ct[0], 0x01);
    assert.ok(!text(ct).includes("melanoma"));
    assert.deepEqual(await decryptMetadata(ct, key), meta, "unknown members are kept");
    // The additional data keeps photo and metadata envelopes apart under one key.
    await assert.rejects(decryptPhoto(ct, key), { code: "decrypt_failed" });
    await assert.rejects(decryptMetadata(await encryptPhoto(new Uint8Array(10), key), key), { code: "decrypt_failed" });
  });

  test("opens the Go client's pinned vector", async () => {
    const key = await importDataKey(VECTOR_KEY);
    assert.deepEqual(await decryptMetadata(hex(VECTOR_METADATA_HEX), key), {
      file_name: "crown.jpg",
      notes: "left temple, 3 months",
    });
  });

  test("at most 4096 bytes encrypted, as the server takes", async () => {
    const key = await generateDataKey();
    const fits = "n".repeat(MAX_METADATA_BYTES - ENVELOPE_OVERHEAD - '{"notes":""}'.length);
    assert.equal((await encryptMetadata({ notes: fits }, key)).length, MAX_METADATA_BYTES);
    await assert.rejects(encryptMetadata({ notes: fits + "n" }, key), { code: "payload_too_large" });
    await assert.rejects(encryptMetadata({ notes: 5 } as never, key), TypeError);
  });
});

test("base64 is standard with padding, and strict", () => {
  const b = Uint8Array.from([0xfb, 0xff, 0xbf, 0x00]);
  assert.equal(toBase64(b), "+/+/AA==");
  assert.deepEqual(fromBase64("+/+/AA=="), b);
  for (const bad of ["-_-_AA==", "+/+/AA", "+/+/ AA==", "A"]) assert.throws(() => fromBase64(bad), TypeError, bad);
  const big = Uint8Array.from({ length: 100_000 }, (_, i) => (i * 7919) & 0xff);
  assert.deepEqual(fromBase64(toBase64(big)), big);
});

describe("audit", () => {
  // The record of shared/core/audit_test.go (TestAuditHashIsPinned).
  const rec: AuditRecord = {
    patient_id: "pat-1",
    seq: 1,
    at: "2026-11-26T10:00:00.000000123Z",
    actor_id: "pro-1",
    actor_role: "professional",
    action: "chat_image.signed_url",
    resource_type: "chat_image",
    resource_id: "ci_aaaaaaaaaaaaaaaaaaaaaaaaaa",
    outcome: "success",
    source_ip: "203.0.113.9",
    user_agent: "app/1",
    request_id: "rq-1",
    prev_hash: "",
    hash: "c91965dc9f7a20191324ae2c90fb1fc7d3523a9ffde5a381a6637cf84682fed7",
  };

  test("the hash of the server's pinned record", async () => {
    assert.equal(await auditRecordHash(rec), rec.hash);
  });

  // The version 2 record of shared/core/audit_test.go (TestAuditHashV2IsPinned).
  const v2: AuditRecord = {
    v: 2,
    patient_id: "pat-1",
    seq: 7,
    at: "2026-11-26T10:04:32.5Z",
    actor_id: "pro-1",
    actor_role: "professional",
    action: "key.issue",
    resource_type: "key",
    resource_id: "ek_aaaaaaaaaaaaaaaaaaaaaaaaaa",
    outcome: "success",
    source_ip: "198.51.100.24",
    user_agent: "MedSharePro/1.4.0 <beta>",
    request_id: "rq-7",
    photo_id: "ph_aaaaaaaaaaaaaaaaaaaaaaaaaa",
    share_id: "sh_aaaaaaaaaaaaaaaaaaaaaaaaaa",
    device: "sha256:00ff",
    prev_hash: "0102",
    hash: "ccba0e695c17ee557441cd2a88f357c0f00182c6b22699ef511777012682a266",
  };

  test("version 2: the server's pinned record; its photo, share and device are covered; no downgrade", async () => {
    assert.equal(await auditRecordHash(v2), v2.hash);
    for (const [name, changed] of [
      ["photo", { ...v2, photo_id: "ph_bbbbbbbbbbbbbbbbbbbbbbbbbb" }],
      ["share", { ...v2, share_id: "" }],
      ["device", { ...v2, device: "sha256:00fe" }],
      ["downgraded to v1", { ...v2, v: 1 }],
      ["v1 showing v2 fields", { ...rec, photo_id: "ph_aaaaaaaaaaaaaaaaaaaaaaaaaa" }],
      ["unknown version", { ...v2, v: 3 }],
    ] as const) {
      const check = await verifyAuditRecords([changed]);
      assert.equal(check.valid, false, name);
    }
    assert.equal(await auditRecordHash({ ...rec, v: 1 }), rec.hash, "an explicit v 1 is version 1");
  });

  test("canonical JSON escapes as Go's encoding/json", () => {
    const j = canonicalAuditJson({ ...rec, user_agent: "a<b>&c\u2028\u2029\n\u0001é" })!;
    assert.ok(j.includes('"user_agent":"a\\u003cb\\u003e\\u0026c\\u2028\\u2029\\n\\u0001é"'), j);
    assert.ok(j.startsWith('{"v":1,"patient_id":"pat-1","seq":1,'));
    assert.ok(j.includes('"reason":"",'));
  });

  test("verifyAuditRecords finds a changed record and a broken link", async () => {
    const second: AuditRecord = { ...rec, seq: 2, prev_hash: rec.hash, request_id: "rq-2", hash: "" };
    second.hash = await auditRecordHash(second);
    const ok = await verifyAuditRecords([second, rec]);
    assert.deepEqual(ok, { valid: true, checked: 2, links: 1, unverifiable: 0, problems: [] });

    const changed = await verifyAuditRecords([{ ...second, outcome: "denied" }, rec]);
    assert.equal(changed.valid, false);
    assert.deepEqual(changed.problems, [{ patient_id: "pat-1", seq: 2, problem: "hash_mismatch" }]);

    const relinked: AuditRecord = { ...second, prev_hash: "00".repeat(32) };
    relinked.hash = await auditRecordHash(relinked);
    assert.deepEqual((await verifyAuditRecords([relinked, rec])).problems, [
      { patient_id: "pat-1", seq: 2, problem: "broken_link" },
    ]);

    const hidden = await verifyAuditRecords([{ ...rec, patient_id: "" }]);
    assert.equal(hidden.unverifiable, 1);
    assert.equal(hidden.checked, 0);
  });
});

test("MedShareError and Retry-After", () => {
  const e = new MedShareError({ code: "rate_limited", message: "slow down", status: 429, requestId: "rq", retryAfter: 3 });
  assert.ok(e instanceof Error);
  assert.ok(isMedShareError(e));
  assert.ok(isMedShareError(e, "rate_limited", "unavailable"));
  assert.deepEqual([e.code, e.status, e.requestId, e.retryAfter, e.message], ["rate_limited", 429, "rq", 3, "slow down"]);
  assert.equal(isMedShareError(e, "not_found"), false);
  assert.equal(isMedShareError(new Error("x")), false);
  const now = Date.parse("2026-01-02T03:04:05Z");
  assert.equal(parseRetryAfter("7", now), 7);
  assert.equal(parseRetryAfter(new Date(now + 90_000).toUTCString(), now), 90);
  assert.equal(parseRetryAfter(null, now), undefined);
  assert.equal(parseRetryAfter("soon", now), undefined);
});
