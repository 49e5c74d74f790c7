// Every operation of the client against a real `medshare serve --demo`.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import {
  Device,
  KEMS,
  decryptMetadata,
  KEM_X25519,
  MedShareClient,
  MedShareError,
  fromBase64,
  isMedShareError,
  type Access,
  type Share,
} from "../src/index.js";
import { Server, countingFetch, randomBytes, type SeenRequest } from "./harness.js";

let server: Server;
before(async () => {
  server = await Server.start();
});
after(async () => {
  await server?.stop();
});

const UNKNOWN_SHARE = "sh_" + "a".repeat(26);

function clients(extra: { fetch?: typeof fetch } = {}) {
  return {
    patient: new MedShareClient({ baseUrl: server.url, token: server.patientToken, ...extra }),
    pro: new MedShareClient({ baseUrl: server.url, token: server.proToken, ...extra }),
  };
}

/** On srv: the demo patient's client, and the demo professional's, whose requests counting sees. */
function countedPro(srv: Server) {
  const counting = countingFetch();
  return {
    patient: new MedShareClient({ baseUrl: srv.url, token: srv.patientToken }),
    pro: new MedShareClient({ baseUrl: srv.url, token: srv.proToken, fetch: counting.fetch }),
    counting,
  };
}

async function shareOf(patient: MedShareClient, photoIds: string[], extra: Partial<Parameters<MedShareClient["createShare"]>[0]> = {}): Promise<Share> {
  return patient.createShare({ professional_id: "demo-professional", photo_ids: photoIds, expires_in: 3600, max_views: 5, ...extra });
}

/** Checks that each request is what the server's strict decoder takes. */
function assertStrictShapes(seen: SeenRequest[]) {
  assert.ok(seen.length > 0);
  for (const r of seen) {
    const api = r.url.startsWith(server.url + "/v1/") || r.url.startsWith(server.url + "/api/") || r.url === server.url + "/health";
    const what = `${r.method} ${r.url}`;
    if (!api) {
      assert.equal(r.headers.get("Authorization"), null, `${what}: the bearer token went to the object store`);
      continue;
    }
    if (r.bodyLength < 0) {
      assert.equal(r.bodyLength, -1, `${what}: an unexpected body kind`);
      assert.equal(r.headers.get("Content-Type"), null, `${what}: Content-Type without a body`);
    } else {
      assert.ok(r.method === "POST" || r.method === "PUT", `${what} has a body`);
      assert.equal(r.headers.get("Content-Type"), "application/json", what);
    }
    if (r.url !== server.url + "/health") assert.match(r.headers.get("Authorization") ?? "", /^Bearer ./, what);
  }
}

describe("photos", () => {
  test("upload encrypted, list by angle, metadata encrypted, delete; requests exactly as the server wants", async () => {
    const counting = countingFetch();
    const { patient } = clients({ fetch: counting.fetch });
    const crown = randomBytes(40_000);
    const up = await patient.uploadPhoto(crown, {
      angle: "CROWN",
      contentType: "image/jpeg",
      metadata: { file_name: "jane-doe-crown.jpg", notes: "melanoma, left temple" },
    });
    assert.equal(up.status, "ready");
    const crown2 = await patient.uploadPhoto(randomBytes(1000), { angle: "CROWN", contentType: "image/png" });
    const front = await patient.uploadPhoto(randomBytes(1000), { angle: "FRONT", contentType: "image/webp" });

    const page = await patient.listPhotos({ limit: 100 });
    const listed = page.items.find((p) => p.photo_id === up.photo_id);
    assert.ok(listed);
    assert.equal(listed.size, crown.length + 29, "size is the ciphertext's: 0x01, nonce, photo, tag");
    assert.equal(listed.content_type, "image/jpeg");
    const meta = fromBase64(listed.metadata!);
    assert.equal(meta[0], 0x01);
    assert.ok(!new TextDecoder().decode(meta).includes("jane"), "the server holds no metadata in clear");

    const crowns = [];
    for await (const p of patient.allPhotos({ angle: "CROWN" })) crowns.push(p.photo_id);
    assert.ok(crowns.includes(up.photo_id) && crowns.includes(crown2.photo_id) && !crowns.includes(front.photo_id));
    const byAngle = await patient.photosByAngle();
    assert.ok(byAngle.get("FRONT")?.some((p) => p.photo_id === front.photo_id));

    assert.deepEqual(await patient.deletePhoto(front.photo_id), { photo_id: front.photo_id, status: "deleted" });
    const after = [];
    for await (const p of patient.allPhotos()) after.push(p.photo_id);
    assert.ok(!after.includes(front.photo_id));
    await assert.rejects(patient.deletePhoto(front.photo_id), { code: "not_found", status: 404 });

    // Seen on the wire: no body and no Content-Type on GET, DELETE and the
    // bodiless finalize; application/json on the rest; no token to the store.
    assertStrictShapes(counting.seen);
    const put = counting.seen.find((r) => r.method === "PUT");
    assert.ok(put && put.bodyLength === crown.length + 29, "the ciphertext went to the store");
    assert.ok(counting.seen.some((r) => r.method === "POST" && r.url.endsWith("/finalize") && r.bodyLength === -1));
    assert.ok(counting.seen.some((r) => r.method === "DELETE" && r.bodyLength === -1));
  });
});

describe("a patient's own photos on any device (the owner route)", () => {
  test("another device of the patient opens the photo's key sealed to it; audited as a view; nobody else's photo", async () => {
    const { patient } = clients();
    const stages: string[] = [];
    const original = randomBytes(20_000);
    const up = await patient.uploadPhoto(original, {
      angle: "TEMPLES",
      contentType: "image/png",
      metadata: { file_name: "temples.png" },
      onProgress: (p) => {
        if (stages.at(-1) !== p.stage) stages.push(p.stage);
        assert.ok(p.loaded <= p.total || p.total === 0, "never more than the total");
      },
    });
    assert.deepEqual(stages, ["encrypting", "staging", "uploading", "finalizing", "done"], "progress stages in order");
    const listed = (await patient.listPhotos({ limit: 100 })).items.find((p) => p.photo_id === up.photo_id)!;

    for (const kem of KEMS) {
      const device = await Device.create(kem); // a device that did not upload it
      const key = await patient.ownPhotoKey(device, up.photo_id);
      assert.equal(key.kem, kem);
      assert.ok(Date.parse(key.expires_at) - Date.now() <= 61_000, "the ciphertext's URL lives at most a minute");
      const seen = await patient.viewOwnPhoto(device, listed, "demo-patient");
      assert.deepEqual(seen.bytes, original, `kem ${kem}`);
      assert.equal(seen.dataKey.extractable, false);
      assert.deepEqual(await decryptMetadata(fromBase64(listed.metadata!), seen.dataKey), { file_name: "temples.png" });
      // The key is bound to the owner: opened as someone else's, it does not open.
      await assert.rejects(device.openOwnerKey(await patient.ownPhotoKey(device, up.photo_id), "someone-else"), { code: "decrypt_failed" });
    }
    const views = [];
    for await (const r of patient.allAuditRecords()) if (r.action === "photo.view" && r.photo_id === up.photo_id) views.push(r);
    assert.ok(views.length >= KEMS.length, `every owner view is audited (${views.length})`);
    assert.ok(views.every((r) => r.v === 2 && r.device?.startsWith("sha256:")), "naming the device");

    const other = new MedShareClient({ baseUrl: server.url, token: server.token("other-patient", "patient") });
    await assert.rejects(other.ownPhotoKey(await Device.create(), up.photo_id), { code: "not_found", status: 404 });
    const pro = new MedShareClient({ baseUrl: server.url, token: server.proToken });
    await assert.rejects(pro.ownPhotoKey(await Device.create(), up.photo_id), { code: "forbidden", status: 403 });
    // A changed ciphertext is caught before decryption.
    await assert.rejects(patient.viewOwnPhoto(await Device.create(), { ...listed, size: listed.size + 1 }, "demo-patient"), {
      code: "integrity_error",
    });
  });
});

describe("chat images", () => {
  test("an appointment's ready images, newest first and paged, for its participants only", async () => {
    const { patient, pro } = clients();
    const clinic = new MedShareClient({ baseUrl: server.url, token: server.clinicToken });
    const appt = `appt-list-${Date.now()}`;
    await clinic.putAppointment(appt, {
      patient_id: "demo-patient",
      professional_ids: ["demo-professional"],
      starts_at: new Date().toISOString(),
      ends_at: new Date(Date.now() + 3600_000).toISOString(),
    });
    assert.deepEqual((await pro.listChatImages(appt)).items, []);
    const a = await patient.uploadChatImage(appt, randomBytes(500), "image/png");
    const b = await pro.uploadChatImage(appt, randomBytes(700), "image/jpeg");
    await patient.stageChatImage(appt, randomBytes(100), "image/gif"); // pending: never listed
    const first = await patient.listChatImages(appt, { limit: 1 });
    assert.equal(first.items.length, 1);
    assert.ok(first.next_cursor);
    const all = [];
    for await (const img of pro.allChatImages(appt)) all.push(img);
    assert.deepEqual(
      all.map((i) => [i.image_id, i.url, i.uploader_id, i.content_type, i.size]),
      [
        [b.image_id, b.url, "demo-professional", "image/jpeg", 700],
        [a.image_id, a.url, "demo-patient", "image/png", 500],
      ],
    );
    const stranger = new MedShareClient({ baseUrl: server.url, token: server.token("stranger-pro", "professional") });
    await assert.rejects(stranger.listChatImages(appt), { code: "not_found", status: 404 });
    await assert.rejects(stranger.listChatImages("no-such-appointment"), { code: "not_found", status: 404 });
  });


  test("upload with the server's exact method, URL and headers; finalize; signed URL for participants only", async () => {
    const counting = countingFetch();
    const { patient, pro } = clients({ fetch: counting.fetch });
    const image = randomBytes(30_000);
    const staged = await patient.stageChatImage(server.appointmentId, image, "image/png");
    assert.equal(staged.url, "private://chat-images/" + staged.image_id);
    await patient.transport.sendObject(staged.upload, image);
    const sent = counting.seen.at(-1)!;
    assert.equal(sent.method, staged.upload.method);
    assert.equal(sent.url, staged.upload.url);
    for (const [k, v] of Object.entries(staged.upload.headers)) {
      if (k.toLowerCase() !== "content-length") assert.equal(sent.headers.get(k), v, `header ${k}`);
    }
    assert.deepEqual(await patient.finalizeChatImage(staged.image_id), { image_id: staged.image_id, url: staged.url, status: "ready" });

    const signed = await pro.chatImageSignedUrl(staged.image_id);
    assert.ok(signed.server_date, "the Date header is readable");
    const lifetime = Date.parse(signed.expires_at) - Date.parse(signed.server_date!);
    assert.ok(lifetime > 59 * 60_000 && lifetime <= 61 * 60_000, `lifetime ${lifetime} ms, want an hour`);
    assert.deepEqual(await pro.download(signed.url), image);

    const up2 = await patient.uploadChatImage(server.appointmentId, randomBytes(100), "image/gif");
    assert.equal(up2.status, "ready");
    await assert.rejects(pro.finalizeChatImage(up2.image_id), { code: "forbidden", status: 403 });

    const stranger = new MedShareClient({ baseUrl: server.url, token: server.token("stranger-pro", "professional") });
    await assert.rejects(stranger.chatImageSignedUrl(staged.image_id), (e: unknown) => {
      assert.ok(isMedShareError(e, "not_found"));
      assert.equal(e.status, 404);
      assert.ok(e.requestId, "the server's request id is carried");
      return true;
    });
    // Other bytes than the pinned ones are refused by the store.
    const again = await patient.stageChatImage(server.appointmentId, image, "image/png");
    const other = image.slice();
    other[0]! ^= 1;
    await assert.rejects(patient.transport.sendObject(again.upload, other), { code: "storage_refused" });
    assertStrictShapes(counting.seen);
  });

  test("an old chat URL the server never imported is its 404 through the cache; a bad URL is 400", async () => {
    const counting = countingFetch();
    const { pro } = clients({ fetch: counting.fetch });
    const host = "old-chat.nyc3.digitaloceanspaces.com";
    const cache = pro.signedUrlCache({ legacyHosts: [host] });
    await assert.rejects(cache.resolve(`https://${host}/images/never-imported.jpg`), (e: unknown) => {
      assert.ok(isMedShareError(e, "not_found"));
      assert.equal(e.status, 404);
      return true;
    });
    assert.equal(await cache.resolve("https://cdn.example/a.png"), "https://cdn.example/a.png");
    await assert.rejects(pro.resolveChatImage("not a url"), { code: "invalid_request", status: 400 });
    const resolves = counting.seen.filter((r) => r.url === server.url + "/api/chat-images/resolve");
    assert.equal(resolves.length, 2);
    assertStrictShapes(counting.seen);
  });
});

describe("sharing and viewing", () => {
  test("every KEM: open an access with a TypeScript device key, the Go server seals to it, view and decrypt", async () => {
    const { patient, pro } = clients();
    const photo = randomBytes(50_000);
    const { photo_id } = await patient.uploadPhoto(photo, { angle: "VERTEX", contentType: "image/jpeg" });
    const sh = await shareOf(patient, [photo_id], { max_views: KEMS.length, max_devices: KEMS.length, screenshot_policy: "allow" });
    assert.equal(sh.status, "active");
    assert.deepEqual(sh.photo_ids, [photo_id]);
    let last: { dev: Device; access: Access } | undefined;
    for (const kem of KEMS) {
      const dev = await Device.create(kem);
      const access = await pro.openAccess(sh.share_id, dev);
      assert.deepEqual(access.photos.map((p) => p.photo_id), [photo_id]);
      const viewed = await pro.viewPhoto(dev, access, photo_id);
      assert.deepEqual(viewed.bytes, photo, `kem ${kem}`);
      assert.equal(viewed.dataKey.extractable, false);
      last = { dev, access };
    }
    const seen = await patient.getShare(sh.share_id);
    assert.equal(seen.views_used, KEMS.length);
    await assert.rejects(pro.viewPhoto(last!.dev, last!.access, photo_id), { code: "views_exhausted", status: 410 });
    await assert.rejects(pro.openAccess(sh.share_id, await Device.create(KEM_X25519)), { code: "device_mismatch", status: 403 });
  });

  test("create by angles, idempotently; list and get as patient and professional", async () => {
    const { patient, pro } = clients();
    const { photo_id } = await patient.uploadPhoto(randomBytes(100), { angle: "TEMPLES", contentType: "image/png" });
    const req = { professional_id: "demo-professional", angles: ["TEMPLES" as const], expires_in: 600, max_views: 2, purpose: "second opinion" };
    const key = crypto.randomUUID();
    const a = await patient.createShare(req, { idempotencyKey: key });
    assert.ok(a.photo_ids.includes(photo_id));
    assert.equal(a.purpose, "second opinion");
    const b = await patient.createShare(req, { idempotencyKey: key });
    assert.equal(b.share_id, a.share_id, "the same key and body: the same session");
    await assert.rejects(patient.createShare({ ...req, max_views: 3 }, { idempotencyKey: key }), { code: "conflict", status: 409 });
    const c = await patient.createShare(req);
    assert.notEqual(c.share_id, a.share_id, "a fresh key by default");

    const mine = await patient.listShares();
    assert.ok(mine.items.some((s) => s.share_id === a.share_id));
    const granted = [];
    for await (const s of pro.allShares()) granted.push(s.share_id);
    assert.ok(granted.includes(a.share_id) && granted.includes(c.share_id));
    assert.equal((await pro.getShare(a.share_id)).professional_id, "demo-professional");
    const other = new MedShareClient({ baseUrl: server.url, token: server.token("other-pro", "professional") });
    await assert.rejects(other.getShare(a.share_id), { code: "not_found" });
    assert.equal((await other.listShares()).items.length, 0);
  });

  test("a request that did not complete is retried with the same Idempotency-Key: one session", async () => {
    let failOnce = true;
    const keys: string[] = [];
    const flaky: typeof fetch = async (input, init) => {
      if (String(input).endsWith("/v1/shares") && init?.method === "POST") {
        keys.push(new Headers(init.headers).get("Idempotency-Key")!);
        if (failOnce) {
          failOnce = false;
          await fetch(input, init); // the server creates it, the answer is lost
          throw new TypeError("connection reset");
        }
      }
      return fetch(input, init);
    };
    const patient = new MedShareClient({ baseUrl: server.url, token: server.patientToken, fetch: flaky });
    const { photo_id } = await patient.uploadPhoto(randomBytes(100), { angle: "BACK", contentType: "image/png" });
    const before = (await patient.listShares({ limit: 100 })).items.length;
    const sh = await shareOf(patient, [photo_id]);
    assert.equal(keys.length, 2);
    assert.equal(keys[0], keys[1]);
    const afterList = (await patient.listShares({ limit: 100 })).items;
    assert.equal(afterList.length, before + 1, "exactly one session was created");
    assert.ok(afterList.some((s) => s.share_id === sh.share_id));
  });

  test("revoke: no open, issue or claim succeeds after it, not even of a key issued before", async () => {
    const { patient, pro } = clients();
    const { photo_id } = await patient.uploadPhoto(randomBytes(100), { angle: "LEFT", contentType: "image/png" });
    const sh = await shareOf(patient, [photo_id]);
    const dev = await Device.create(KEM_X25519);
    const access = await pro.openAccess(sh.share_id, dev);
    const key = await pro.issueKey(access.access_id, photo_id);
    assert.deepEqual(await patient.revokeShare(sh.share_id, "no longer needed"), { share_id: sh.share_id, status: "revoked" });
    await assert.rejects(pro.claimKey(key.key_id), { code: "session_revoked", status: 410 });
    await assert.rejects(pro.issueKey(access.access_id, photo_id), { code: "session_revoked" });
    await assert.rejects(pro.openAccess(sh.share_id, dev), { code: "session_revoked" });
    assert.equal((await patient.getShare(sh.share_id)).status, "revoked");
    assert.equal((await patient.revokeShare(sh.share_id)).status, "revoked", "idempotent, and bodiless without a reason");
  });

  test("a key is claimed once; another device on a 1-device session is refused; a key opens on its device only", async () => {
    const { patient, pro } = clients();
    const photo = randomBytes(500);
    const { photo_id } = await patient.uploadPhoto(photo, { angle: "RIGHT", contentType: "image/png" });
    const sh = await shareOf(patient, [photo_id]);
    const dev = await Device.create(KEM_X25519);
    const access = await pro.openAccess(sh.share_id, dev);
    const key = await pro.issueKey(access.access_id, photo_id);
    const url = await pro.claimKey(key.key_id);
    await assert.rejects(pro.claimKey(key.key_id), { code: "key_used", status: 410 });
    const stranger = await Device.create(KEM_X25519);
    await assert.rejects(stranger.openKey(key, access.access_id), { code: "decrypt_failed" });
    const dataKey = await dev.openKey(key, access.access_id);
    const { decryptPhoto } = await import("../src/index.js");
    assert.deepEqual(await decryptPhoto(await pro.download(url.url), dataKey), photo);
    await assert.rejects(pro.openAccess(sh.share_id, await Device.create(KEM_X25519)), { code: "device_mismatch", status: 403 });
    // A ciphertext other than the one the session lists is refused before decryption.
    const forged = { ...access, photos: access.photos.map((p) => ({ ...p, sha256: "A".repeat(43) + "=" })) };
    await assert.rejects(pro.viewPhoto(dev, forged, photo_id), { code: "integrity_error" });
  });
});

describe("activity, notifications, audit", () => {
  let access: Access;
  let share: Share;
  let photoId: string;
  let device: Device;

  before(async () => {
    const { patient, pro } = clients();
    photoId = (await patient.uploadPhoto(randomBytes(100), { angle: "HAIRLINE", contentType: "image/png" })).photo_id;
    share = await shareOf(patient, [photoId], { screenshot_policy: "revoke" });
    device = await Device.create(KEM_X25519);
    access = await pro.openAccess(share.share_id, device);
    await pro.viewPhoto(device, access, photoId);
  });

  test("activity reports: app_backgrounded scores 5; a screenshot under a revoke policy revokes", async () => {
    const { pro } = clients();
    assert.deepEqual(await pro.reportActivity(access.access_id, [{ type: "app_backgrounded", details: "tab hidden" }]), { action: "none", score: 5 });
    const r = await pro.reportActivity(access.access_id, [{ type: "screenshot", at: new Date() }]);
    assert.equal(r.action, "revoked");
    await assert.rejects(pro.viewPhoto(device, access, photoId), { code: "session_revoked" });
    const stranger = new MedShareClient({ baseUrl: server.url, token: server.token("stranger-pro", "professional") });
    await assert.rejects(stranger.reportActivity(access.access_id, [{ type: "screenshot" }]), { code: "not_found" });
  });

  test("notifications: listed newest first, marked read", async () => {
    const { patient, pro } = clients();
    const mine = (await pro.listNotifications({ limit: 100 })).items.filter((n) => n.share_id === share.share_id);
    const created = mine.find((n) => n.type === "session_created");
    assert.ok(created, "the professional was told of the session");
    assert.equal(created.read, false);
    const read = await pro.markNotificationRead(created.notification_id);
    assert.equal(read.read, true);
    const types = (await patient.listNotifications({ limit: 100 })).items.filter((n) => n.share_id === share.share_id).map((n) => n.type);
    for (const t of ["session_accessed", "photo_viewed"]) assert.ok(types.includes(t), `patient notified of ${t}: ${types}`);
    const all = (await patient.listNotifications({ limit: 100 })).items;
    for (let i = 1; i < all.length; i++) assert.ok(all[i - 1]!.created_at >= all[i]!.created_at, "newest first");
  });

  test("access history; the server's verification and the client's own recomputation agree", async () => {
    const { patient, pro } = clients();
    const first = await patient.accessHistory({ limit: 2 });
    assert.equal(first.items.length, 2);
    assert.ok(first.next_cursor, "paged");
    const records = [];
    for await (const r of patient.allAuditRecords()) records.push(r);
    assert.ok(records.some((r) => r.action === "share.create" && r.resource_id === share.share_id));
    const server = await patient.verifyAudit();
    assert.equal(server.valid, true);
    assert.equal(server.records, records.length);
    const local = await patient.verifyAuditLocally();
    assert.equal(local.valid, true, JSON.stringify(local.problems));
    assert.equal(local.checked, records.length);
    assert.equal(local.links, records.length - 1, "every link of the patient's chain");
    const proCheck = await pro.verifyAuditLocally();
    assert.equal(proCheck.valid, true);
    assert.ok(proCheck.checked > 0);
    assert.equal((await pro.verifyAudit()).valid, true);
  });
});

describe("errors are typed values", () => {
  test("unauthorized, forbidden (role before anything else), not_found, invalid_request", async () => {
    const bad = new MedShareClient({ baseUrl: server.url, token: "not-a-token" });
    await assert.rejects(bad.listPhotos(), { name: "MedShareError", code: "unauthorized", status: 401 });
    const clinic = new MedShareClient({ baseUrl: server.url, token: server.clinicToken });
    await assert.rejects(clinic.listPhotos(), { code: "forbidden", status: 403 });
    await assert.rejects(clinic.getShare("not an id"), { code: "forbidden", status: 403 });
    const { patient } = clients();
    await assert.rejects(patient.getShare(UNKNOWN_SHARE), { code: "not_found", status: 404 });
    await assert.rejects(patient.getShare("not-an-id"), { code: "invalid_request", status: 400 });
    await assert.rejects(
      patient.createShare({ professional_id: "demo-professional", photo_ids: [], expires_in: 1, max_views: 0 }),
      (e: unknown) => e instanceof MedShareError && e.code === "invalid_request" && e.requestId !== "",
    );
    const health = await new MedShareClient({ baseUrl: server.url }).health();
    assert.equal(health.status, "ok");
  });

  test("429 with Retry-After, API Gateway's own 401, non-JSON errors and network failures", async () => {
    const answer = (status: number, body: string, headers: Record<string, string> = {}): typeof fetch =>
      async () => new Response(body, { status, headers });
    const c = (f: typeof fetch) => new MedShareClient({ baseUrl: "http://127.0.0.1:9", token: "t", fetch: f });
    await assert.rejects(
      c(answer(429, '{"error":{"code":"rate_limited","message":"slow down","request_id":"rq-9"}}', { "Retry-After": "7" })).listPhotos(),
      { code: "rate_limited", status: 429, retryAfter: 7, requestId: "rq-9", message: "slow down" },
    );
    await assert.rejects(c(answer(401, '{"message":"Unauthorized"}')).listPhotos(), { code: "unauthorized", message: "Unauthorized" });
    await assert.rejects(c(answer(502, "<html>bad gateway</html>", { "X-Request-Id": "gw-1" })).listPhotos(), {
      code: "internal",
      status: 502,
      requestId: "gw-1",
    });
    await assert.rejects(c(answer(200, "not json")).listPhotos(), { code: "bad_response" });
    await assert.rejects(c(async () => { throw new TypeError("fetch failed"); }).listPhotos(), { code: "network_error", status: 0 });
  });
});

describe("SignedUrlCache against a server with a 2-minute URL TTL", () => {
  let short: Server;
  before(async () => {
    short = await Server.start({ MEDSHARE_CHAT_URL_TTL: "2m" });
  });
  after(async () => {
    await short?.stop();
  });

  test("one signed-URL request per lifetime, shared by concurrent resolutions; counted by fetch and by the server", async () => {
    const { patient, pro, counting } = countedPro(short);
    const signedUrlRequests = () => counting.count((r) => r.method === "GET" && r.url.endsWith("/signed-url"));
    const image = randomBytes(2000);
    const { url: privateUrl } = await patient.uploadChatImage(short.appointmentId, image, "image/jpeg");
    let now = Date.now();
    const cache = pro.signedUrlCache({ now: () => now });

    const urls = await Promise.all(Array.from({ length: 20 }, () => cache.resolve(privateUrl)));
    assert.equal(new Set(urls).size, 1);
    assert.equal(signedUrlRequests(), 1, "20 concurrent resolutions, one request");
    assert.deepEqual(await pro.download(urls[0]!), image);
    assert.equal(await cache.resolve("https://cdn.example/x.png"), "https://cdn.example/x.png");

    // A 2-minute URL: the margin is capped at half its lifetime, so it is
    // replaced a minute after it was received (a little less: the lifetime is
    // counted from the answer's Date, in whole seconds).
    now += 30_000;
    assert.equal(await cache.resolve(privateUrl), urls[0]);
    assert.equal(signedUrlRequests(), 1);
    now += 30_000;
    await cache.resolve(privateUrl);
    assert.equal(signedUrlRequests(), 2, "a new request once the URL's time is up");
    const current = await cache.resolve(privateUrl);
    assert.equal(signedUrlRequests(), 2);
    assert.equal(cache.reportFailure(current, 403), true);
    await cache.resolve(privateUrl);
    assert.equal(signedUrlRequests(), 3, "a URL reported as failed is fetched again");

    // The server counts the same: each request is audited in the patient's chain.
    let audited = 0;
    for await (const r of patient.allAuditRecords()) {
      if (r.action === "chat_image.signed_url" && r.actor_id === "demo-professional") audited++;
    }
    assert.equal(audited, 3);
  });
});

describe("SignedUrlCache with a URL that really expires", () => {
  let tiny: Server;
  before(async () => {
    tiny = await Server.start({ MEDSHARE_CHAT_URL_TTL: "3s" });
  });
  after(async () => {
    await tiny?.stop();
  });

  test("the store refuses the expired URL with 403; reported, it is dropped and fetched again", async () => {
    const { patient, pro, counting } = countedPro(tiny);
    const { url: privateUrl } = await patient.uploadChatImage(tiny.appointmentId, randomBytes(100), "image/png");
    const frozen = Date.now();
    const cache = pro.signedUrlCache({ now: () => frozen }); // the cache's clock stands still
    const first = await cache.resolve(privateUrl);
    // Wait (bounded) until the store's real clock has passed the URL's expiry.
    let status = 200;
    for (let i = 0; i < 100 && status === 200; i++) {
      await new Promise((r) => setTimeout(r, 200));
      status = await pro.download(first).then(() => 200, (e: MedShareError) => e.status);
    }
    assert.equal(status, 403, "the expired URL is refused by the store");
    assert.equal(await cache.resolve(privateUrl), first, "by its own clock the cache still holds it");
    assert.equal(cache.reportFailure(first, status), true);
    const second = await cache.resolve(privateUrl);
    assert.notEqual(second, first);
    assert.equal(counting.count((r) => r.url.endsWith("/signed-url")), 2);
  });
});
