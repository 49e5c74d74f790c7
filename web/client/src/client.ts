// MedShareClient: every operation of docs/PROTOCOL.md, as one user.

import { type Bytes, equalBytes, fromBase64, sha256, toBase64 } from "./bytes.js";
import { SignedUrlCache, type SignedUrlCacheOptions } from "./cache.js";
import { verifyAuditRecords, type AuditCheck } from "./audit.js";
import { Device } from "./device.js";
import { MedShareError } from "./errors.js";
import { Transport, type TransportOptions } from "./http.js";
import {
  type PhotoMetadata,
  encryptMetadata,
  encryptPhoto,
  exportDataKey,
  decryptPhoto,
  generateDataKey,
} from "./photocrypto.js";
import type {
  Access,
  ActivityEvent,
  ActivityResult,
  Angle,
  Appointment,
  AuditRecord,
  AuditVerification,
  ChatContentType,
  ChatImage,
  ChatSignedUrl,
  IssuedKey,
  ListedChatImage,
  Notification,
  OwnerKey,
  Page,
  PageParams,
  Photo,
  PhotoContentType,
  Share,
  ShareRequest,
  SharedPhoto,
  SignedUrl,
  StagedChatImage,
  StagedPhoto,
} from "./types.js";

/** Options of a {@link MedShareClient}: where the API is and who calls it. */
export type ClientOptions = TransportOptions;

/** What to upload with a photo. */
export interface PhotoUploadOptions {
  angle: Angle;
  /** The plaintext image's type. */
  contentType: PhotoContentType;
  /** File name and notes, encrypted with the photo's data key before they leave the device. */
  metadata?: PhotoMetadata;
  /**
   * Called as the upload goes: its stage, and for "uploading" the bytes of
   * ciphertext sent so far out of the total (in a browser, byte by byte).
   */
  onProgress?: (p: UploadProgress) => void;
}

/** Where an upload is, for a progress bar. */
export interface UploadProgress {
  stage: "encrypting" | "staging" | "uploading" | "finalizing" | "done";
  /** Bytes of ciphertext sent (0 before "uploading"). */
  loaded: number;
  /** The ciphertext's size (0 while "encrypting"). */
  total: number;
}

/** A photo viewed on a device: the plaintext, and its data key (non-extractable) to open its metadata. */
export interface ViewedPhoto {
  photo_id: string;
  /** The photo's bytes, decrypted on the device. */
  bytes: Bytes;
  /** The photo's data key, a non-extractable AES-GCM key. */
  dataKey: CryptoKey;
  /** The session's description of the photo, when the access listed it. */
  photo?: SharedPhoto;
}

/** Options of {@link MedShareClient.createShare}. */
export interface CreateShareOptions {
  /**
   * The `Idempotency-Key` (default: a fresh random one per call). The client
   * retries a request that did not complete, or got 503, once with the same
   * key, so it never creates two sessions.
   */
  idempotencyKey?: string;
}

const seg = encodeURIComponent;

// A downloaded ciphertext must be the one the patient uploaded: its size and
// SHA-256 as the photo's listing (or the session) says.
async function checkCiphertext(ciphertext: Uint8Array, photo: { photo_id: string; size: number; sha256: string }): Promise<void> {
  if (ciphertext.length !== photo.size || !equalBytes(await sha256(ciphertext), fromBase64(photo.sha256))) {
    throw new MedShareError({
      code: "integrity_error",
      message: `photo ${photo.photo_id}: the ciphertext is not the one the patient uploaded`,
    });
  }
}

/**
 * A MedShare API client for one user (patient, professional or clinic).
 *
 * ```ts
 * const patient = new MedShareClient({ baseUrl: "http://127.0.0.1:8080", token: patientToken });
 * const { photo_id } = await patient.uploadPhoto(jpegBytes, { angle: "CROWN", contentType: "image/jpeg",
 *   metadata: { file_name: "crown.jpg" } });
 * ```
 */
export class MedShareClient {
  /** The HTTP layer, for calls this class does not wrap. */
  readonly transport: Transport;

  constructor(opts: ClientOptions) {
    this.transport = new Transport(opts);
  }

  private async call<T>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
    return (await this.transport.json<T>(method, path, { body, headers })).data;
  }

  private page<T>(path: string, p: PageParams = {}): Promise<Page<T>> {
    return this.transport.json<Page<T>>("GET", path, { query: { limit: p.limit, cursor: p.cursor } }).then((r) => r.data);
  }

  private async *all<T>(path: string): AsyncGenerator<T> {
    let cursor: string | undefined;
    do {
      const p: Page<T> = await this.page<T>(path, { limit: 100, cursor });
      yield* p.items;
      cursor = p.next_cursor;
    } while (cursor);
  }

  /** `GET /health`. */
  health(): Promise<{ status: string }> {
    return this.call("GET", "/health");
  }

  // ---- photos (patient) ----

  /**
   * Encrypts a photo on the device under a fresh data key, stages it (`POST
   * /v1/photos` with the ciphertext's size and SHA-256 and the data key),
   * uploads the ciphertext with exactly the server's method, URL and headers,
   * and finalizes it. The metadata is encrypted with the same data key. The
   * data key leaves the device only in the staging request, for the server to
   * wrap; the client forgets it.
   */
  async uploadPhoto(photo: Uint8Array, opts: PhotoUploadOptions): Promise<{ photo_id: string; status: "ready" }> {
    const progress = opts.onProgress ?? (() => undefined);
    progress({ stage: "encrypting", loaded: 0, total: 0 });
    const key = await generateDataKey();
    const ciphertext = await encryptPhoto(photo, key);
    const total = ciphertext.length;
    progress({ stage: "staging", loaded: 0, total });
    const metadata = opts.metadata === undefined ? undefined : await encryptMetadata(opts.metadata, key);
    const raw = await exportDataKey(key);
    let staged: StagedPhoto;
    try {
      const body: Record<string, unknown> = {
        angle: opts.angle,
        content_type: opts.contentType,
        size: ciphertext.length,
        sha256: toBase64(await sha256(ciphertext)),
        data_key: toBase64(raw),
      };
      if (metadata) body["metadata"] = toBase64(metadata);
      staged = await this.call<StagedPhoto>("POST", "/v1/photos", body);
    } finally {
      raw.fill(0);
    }
    progress({ stage: "uploading", loaded: 0, total });
    await this.transport.sendObject(
      staged.upload,
      ciphertext,
      opts.onProgress ? (loaded) => progress({ stage: "uploading", loaded, total }) : undefined,
    );
    progress({ stage: "finalizing", loaded: total, total });
    const done = await this.finalizePhoto(staged.photo_id);
    progress({ stage: "done", loaded: total, total });
    return done;
  }

  /** `POST /v1/photos/{id}/finalize`: idempotent; 409 while the object has not arrived intact. */
  finalizePhoto(photoId: string): Promise<{ photo_id: string; status: "ready" }> {
    return this.call("POST", `/v1/photos/${seg(photoId)}/finalize`);
  }

  /** One page of the patient's photos (`GET /v1/photos`). */
  listPhotos(page?: PageParams): Promise<Page<Photo>> {
    return this.page("/v1/photos", page);
  }

  /** Every photo of the patient, page after page; only those of one angle when given. */
  async *allPhotos(opts: { angle?: Angle } = {}): AsyncGenerator<Photo> {
    for await (const p of this.all<Photo>("/v1/photos")) {
      if (opts.angle === undefined || p.angle === opts.angle) yield p;
    }
  }

  /** The patient's ready photos grouped by angle (angles without photos are absent). */
  async photosByAngle(): Promise<Map<Angle, Photo[]>> {
    const m = new Map<Angle, Photo[]>();
    for await (const p of this.allPhotos()) {
      if (p.status !== "ready") continue;
      const list = m.get(p.angle);
      if (list) list.push(p);
      else m.set(p.angle, [p]);
    }
    return m;
  }

  /**
   * `POST /v1/photos/{id}/key` (the owner route): the patient's own photo's
   * data key sealed to this device's public key, and a signed GET of the
   * ciphertext valid for at most 60 seconds. The server records it as a view
   * of the photo in the patient's audit trail.
   */
  ownPhotoKey(device: Device, photoId: string): Promise<OwnerKey> {
    return this.call("POST", `/v1/photos/${seg(photoId)}/key`, {
      kem: device.kem,
      device_public_key: toBase64(device.publicKey),
    });
  }

  /**
   * Shows a patient their own photo on any device of theirs: asks for its key
   * sealed to the device ({@link ownPhotoKey}), downloads the ciphertext,
   * checks its size and SHA-256 against the photo's listing (when `photo` is
   * the {@link Photo} object), opens the key with the device's private key and
   * decrypts. `ownerId` is the patient's user id (the token's subject), which
   * the key is bound to. Nothing is written anywhere.
   */
  async viewOwnPhoto(device: Device, photo: Photo | string, ownerId: string): Promise<ViewedPhoto> {
    const photoId = typeof photo === "string" ? photo : photo.photo_id;
    const key = await this.ownPhotoKey(device, photoId);
    const ciphertext = await this.download(key.url);
    if (typeof photo !== "string") await checkCiphertext(ciphertext, photo);
    const dataKey = await device.openOwnerKey(key, ownerId);
    return { photo_id: photoId, bytes: await decryptPhoto(ciphertext, dataKey), dataKey };
  }

  /** `DELETE /v1/photos/{id}`: the ciphertext and the wrapped key are gone. */
  deletePhoto(photoId: string): Promise<{ photo_id: string; status: "deleted" }> {
    return this.call("DELETE", `/v1/photos/${seg(photoId)}`);
  }

  // ---- appointments (clinic) ----

  /** `PUT /v1/appointments/{id}`: registers or updates an appointment and its participants. */
  putAppointment(appointmentId: string, a: Omit<Appointment, "appointment_id">): Promise<Appointment> {
    return this.call("PUT", `/v1/appointments/${seg(appointmentId)}`, a);
  }

  // ---- chat images (participants) ----

  /** `POST /api/chat-images`: stages an image of exactly these bytes in an appointment's chat. */
  async stageChatImage(appointmentId: string, image: Uint8Array, contentType: ChatContentType): Promise<StagedChatImage> {
    return this.call<StagedChatImage>("POST", "/api/chat-images", {
      appointment_id: appointmentId,
      content_type: contentType,
      size: image.length,
      sha256: toBase64(await sha256(image)),
    });
  }

  /** `POST /api/chat-images/{id}/finalize` (the uploader). */
  finalizeChatImage(imageId: string): Promise<ChatImage> {
    return this.call("POST", `/api/chat-images/${seg(imageId)}/finalize`);
  }

  /**
   * Uploads a chat image: stage (SHA-256 and size pinned), send the bytes with
   * exactly the server's method, URL and headers, finalize. The answer's `url`
   * is the `private://chat-images/<id>` URL the app shows.
   */
  async uploadChatImage(appointmentId: string, image: Uint8Array, contentType: ChatContentType): Promise<ChatImage> {
    const staged = await this.stageChatImage(appointmentId, image, contentType);
    await this.transport.sendObject(staged.upload, image);
    return this.finalizeChatImage(staged.image_id);
  }

  /**
   * One page of an appointment's ready chat images, newest first (`GET
   * /api/appointments/{id}/chat-images`; participants only, 404 for anyone
   * else, as for an unknown appointment).
   */
  listChatImages(appointmentId: string, page?: PageParams): Promise<Page<ListedChatImage>> {
    return this.page(`/api/appointments/${seg(appointmentId)}/chat-images`, page);
  }

  /** Every ready chat image of an appointment, newest first, page after page. */
  allChatImages(appointmentId: string): AsyncGenerator<ListedChatImage> {
    return this.all<ListedChatImage>(`/api/appointments/${seg(appointmentId)}/chat-images`);
  }

  /**
   * `GET /api/chat-images/{id}/signed-url`, with the answer's `Date` as
   * `server_date`. Every call is a request, audited by the server: use a
   * {@link SignedUrlCache} ({@link signedUrlCache}) to show images.
   */
  async chatImageSignedUrl(imageId: string): Promise<ChatSignedUrl> {
    const { data, response } = await this.transport.json<SignedUrl>("GET", `/api/chat-images/${seg(imageId)}/signed-url`);
    const out: ChatSignedUrl = { url: data.url, expires_at: data.expires_at };
    const date = response.headers.get("Date");
    if (date) out.server_date = date;
    return out;
  }

  /** A {@link SignedUrlCache} that resolves `private://chat-images/` URLs with this client. */
  signedUrlCache(opts?: SignedUrlCacheOptions): SignedUrlCache {
    return new SignedUrlCache((id) => this.chatImageSignedUrl(id), opts);
  }

  // ---- sharing (patient, grantee) ----

  /** `POST /v1/shares` with an `Idempotency-Key`: shares photos (by ids or by angles) with one professional. */
  async createShare(req: ShareRequest, opts: CreateShareOptions = {}): Promise<Share> {
    const key = opts.idempotencyKey ?? crypto.randomUUID();
    try {
      return await this.call<Share>("POST", "/v1/shares", req, { "Idempotency-Key": key });
    } catch (e) {
      if (!(e instanceof MedShareError) || (e.code !== "network_error" && e.code !== "unavailable")) throw e;
      return await this.call<Share>("POST", "/v1/shares", req, { "Idempotency-Key": key });
    }
  }

  /** One page of the caller's sessions: the patient's own, or those granted to the professional. */
  listShares(page?: PageParams): Promise<Page<Share>> {
    return this.page("/v1/shares", page);
  }

  /** Every session of the caller, page after page. */
  allShares(): AsyncGenerator<Share> {
    return this.all<Share>("/v1/shares");
  }

  /** `GET /v1/shares/{id}` (its patient or grantee). */
  getShare(shareId: string): Promise<Share> {
    return this.call("GET", `/v1/shares/${seg(shareId)}`);
  }

  /** `POST /v1/shares/{id}/revoke`: from its answer on, no open, issue or claim succeeds. */
  revokeShare(shareId: string, reason?: string): Promise<{ share_id: string; status: "revoked" }> {
    return this.call("POST", `/v1/shares/${seg(shareId)}/revoke`, reason === undefined ? undefined : { reason });
  }

  /** `POST /v1/shares/{id}/access` (grantee): opens a time-boxed access bound to this device's public key. */
  openAccess(shareId: string, device: Device): Promise<Access> {
    return this.call("POST", `/v1/shares/${seg(shareId)}/access`, {
      kem: device.kem,
      device_public_key: toBase64(device.publicKey),
      device_fingerprint: device.fingerprint,
    });
  }

  /** `POST /v1/access/{id}/photos/{photo}/key`: spends one view; the key is sealed to the access's device. */
  issueKey(accessId: string, photoId: string): Promise<IssuedKey> {
    return this.call("POST", `/v1/access/${seg(accessId)}/photos/${seg(photoId)}/key`);
  }

  /** `POST /v1/keys/{id}/signed-url`: claims an issued key, once, for a short signed URL of the ciphertext. */
  claimKey(keyId: string): Promise<SignedUrl> {
    return this.call("POST", `/v1/keys/${seg(keyId)}/signed-url`);
  }

  /** Downloads a signed URL (never with the bearer token). */
  download(url: string): Promise<Bytes> {
    return this.transport.download(url);
  }

  /**
   * Spends one view of a photo on a device: issues its key, claims it,
   * downloads the ciphertext, checks its size and SHA-256 against the
   * session's (when `access` is the {@link Access} object), opens the key with
   * the device's private key and decrypts the photo. Nothing is written
   * anywhere.
   */
  async viewPhoto(device: Device, access: Access | string, photoId: string): Promise<ViewedPhoto> {
    const accessId = typeof access === "string" ? access : access.access_id;
    const photo = typeof access === "string" ? undefined : access.photos.find((p) => p.photo_id === photoId);
    const key = await this.issueKey(accessId, photoId);
    const signed = await this.claimKey(key.key_id);
    const ciphertext = await this.download(signed.url);
    if (photo) await checkCiphertext(ciphertext, photo);
    const dataKey = await device.openKey(key, accessId);
    const bytes = await decryptPhoto(ciphertext, dataKey);
    const out: ViewedPhoto = { photo_id: photoId, bytes, dataKey };
    if (photo) out.photo = photo;
    return out;
  }

  /**
   * `POST /v1/access/{id}/activity`: 1 to 100 events (`at` defaults to now).
   * The answer says whether the session was warned about or revoked.
   */
  reportActivity(accessId: string, events: readonly ActivityEvent[]): Promise<ActivityResult> {
    const now = new Date(this.transport.now()).toISOString();
    return this.call("POST", `/v1/access/${seg(accessId)}/activity`, {
      events: events.map((e) => {
        const out: { type: string; at: string; details?: string } = {
          type: e.type,
          at: e.at === undefined ? now : typeof e.at === "string" ? e.at : e.at.toISOString(),
        };
        if (e.details !== undefined) out.details = e.details;
        return out;
      }),
    });
  }

  // ---- notifications (anyone) ----

  /** One page of the caller's notifications, newest first. */
  listNotifications(page?: PageParams): Promise<Page<Notification>> {
    return this.page("/v1/notifications", page);
  }

  /** `POST /v1/notifications/{id}/read`: the notification, now read. */
  markNotificationRead(notificationId: string): Promise<Notification> {
    return this.call("POST", `/v1/notifications/${seg(notificationId)}/read`);
  }

  // ---- audit (patient, professional) ----

  /** One page of the audit trail the caller may read, newest first. */
  accessHistory(page?: PageParams): Promise<Page<AuditRecord>> {
    return this.page("/v1/audit", page);
  }

  /** Every audit record the caller may read, page after page. */
  allAuditRecords(): AsyncGenerator<AuditRecord> {
    return this.all<AuditRecord>("/v1/audit");
  }

  /** `GET /v1/audit/verify`: the server recomputes the caller's chain (or records). */
  verifyAudit(): Promise<AuditVerification> {
    return this.call("GET", "/v1/audit/verify");
  }

  /**
   * Reads the whole trail and recomputes every hash and link on this device,
   * without trusting the server's verification.
   */
  async verifyAuditLocally(): Promise<AuditCheck> {
    const records: AuditRecord[] = [];
    for await (const r of this.allAuditRecords()) records.push(r);
    return verifyAuditRecords(records);
  }
}
