// The two clients interoperate: a photo (and its encrypted metadata) uploaded
// by the TypeScript client is viewable by the Go client, and the other way
// round, for every KEM, through a real server.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { Device, KEMS, MedShareClient, decryptMetadata, fromBase64, toBase64 } from "../src/index.js";
import { Server, goInterop, randomBytes } from "./harness.js";

let server: Server;
let tmp: string;
before(async () => {
  server = await Server.start();
  tmp = mkdtempSync(join(tmpdir(), "medshare-cross-"));
});
after(async () => {
  await server?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

async function metadataOf(patient: MedShareClient, photoId: string): Promise<Uint8Array> {
  for await (const p of patient.allPhotos()) if (p.photo_id === photoId && p.metadata) return fromBase64(p.metadata);
  throw new Error(`photo ${photoId} has no metadata`);
}

test("uploaded by the TypeScript client, viewed by the Go client (every KEM), metadata included", async () => {
  const patient = new MedShareClient({ baseUrl: server.url, token: server.patientToken });
  const photo = randomBytes(64_000);
  const meta = { file_name: "crown <2026>.jpg", notes: "left temple & crown, 3 months" };
  const { photo_id } = await patient.uploadPhoto(photo, { angle: "CROWN", contentType: "image/jpeg", metadata: meta });
  const encrypted = await metadataOf(patient, photo_id);
  const share = await patient.createShare({
    professional_id: "demo-professional",
    photo_ids: [photo_id],
    expires_in: 600,
    max_views: KEMS.length,
    max_devices: KEMS.length,
  });
  for (const kem of KEMS) {
    const out = await goInterop("view", "-url", server.url, "-token", server.proToken, "-share", share.share_id,
      "-photo", photo_id, "-kem", String(kem), "-metadata", toBase64(encrypted));
    assert.deepEqual(fromBase64(out.photo as string), photo, `Go viewed the photo (kem ${kem})`);
    assert.deepEqual(out.metadata, { file_name: meta.file_name, notes: meta.notes }, `Go opened the metadata (kem ${kem})`);
  }
});

test("uploaded by the Go client, viewed by the TypeScript client (every KEM), metadata included", async () => {
  const photo = randomBytes(64_000);
  const file = join(tmp, "photo.bin");
  writeFileSync(file, photo);
  const { photo_id } = await goInterop("upload", "-url", server.url, "-token", server.patientToken, "-angle", "FRONT",
    "-content-type", "image/png", "-in", file, "-file-name", "front.png", "-notes", "from the Go client");
  const patient = new MedShareClient({ baseUrl: server.url, token: server.patientToken });
  const encrypted = await metadataOf(patient, photo_id as string);
  const share = await patient.createShare({
    professional_id: "demo-professional",
    angles: ["FRONT"],
    expires_in: 600,
    max_views: KEMS.length,
    max_devices: KEMS.length,
  });
  assert.deepEqual(share.photo_ids, [photo_id]);
  const pro = new MedShareClient({ baseUrl: server.url, token: server.proToken });
  for (const kem of KEMS) {
    const dev = await Device.create(kem);
    const access = await pro.openAccess(share.share_id, dev);
    const viewed = await pro.viewPhoto(dev, access, photo_id as string);
    assert.deepEqual(viewed.bytes, photo, `viewed (kem ${kem})`);
    assert.deepEqual(await decryptMetadata(encrypted, viewed.dataKey), { file_name: "front.png", notes: "from the Go client" });
  }
});
