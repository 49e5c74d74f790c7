// The protocol's JSON shapes (docs/PROTOCOL.md), exactly as on the wire:
// snake_case, times as RFC 3339 strings, binary values as standard base64.

/** A photo's angle. */
export type Angle = "VERTEX" | "HAIRLINE" | "TEMPLES" | "CROWN" | "FRONT" | "BACK" | "LEFT" | "RIGHT" | "OTHER";

/** Every angle, in the order the protocol lists them. */
export const ANGLES: readonly Angle[] = ["VERTEX", "HAIRLINE", "TEMPLES", "CROWN", "FRONT", "BACK", "LEFT", "RIGHT", "OTHER"];

/** The plaintext image types a photo may declare. */
export type PhotoContentType = "image/jpeg" | "image/png" | "image/heic" | "image/heif" | "image/webp";

/** The image types a chat image may have. */
export type ChatContentType = PhotoContentType | "image/gif";

/** How to send an object: exactly this method, URL and headers, before `expires_at`. */
export interface Upload {
  method: string;
  url: string;
  headers: Record<string, string>;
  expires_at: string;
}

/** The answer of `POST /v1/photos`. */
export interface StagedPhoto {
  photo_id: string;
  status: "pending";
  upload: Upload;
}

/** A photo as `GET /v1/photos` lists it; `size` and `sha256` are the ciphertext's. */
export interface Photo {
  photo_id: string;
  status: "pending" | "ready";
  angle: Angle;
  content_type: PhotoContentType;
  size: number;
  sha256: string;
  /** The encrypted metadata (base64), absent when there is none. */
  metadata?: string;
  created_at: string;
}

/** One page of a list; pass `next_cursor` as `cursor` for the next one. */
export interface Page<T> {
  items: T[];
  next_cursor?: string;
}

/** Paging parameters of the list routes. */
export interface PageParams {
  /** 1 to 100 (the server's default is 50). */
  limit?: number | undefined;
  /** An opaque `next_cursor` of the previous page. */
  cursor?: string | undefined;
}

/** An appointment, as the clinic registers it. */
export interface Appointment {
  appointment_id: string;
  patient_id: string;
  professional_ids: string[];
  starts_at: string;
  ends_at: string;
}

/** The answer of `POST /api/chat-images`. */
export interface StagedChatImage {
  image_id: string;
  /** `private://chat-images/<image_id>`, what the app shows. */
  url: string;
  status: "pending";
  upload: Upload;
}

/** A chat image once finalized. */
export interface ChatImage {
  image_id: string;
  url: string;
  status: "ready";
}

/** A chat image as an appointment's list gives it (`GET /api/appointments/{id}/chat-images`), newest first. */
export interface ListedChatImage {
  image_id: string;
  /** `private://chat-images/<image_id>`: resolve it with a {@link SignedUrlCache}. */
  url: string;
  /** The participant who uploaded it. */
  uploader_id: string;
  content_type: ChatContentType;
  size: number;
  /** The image's SHA-256, base64. */
  sha256: string;
  created_at: string;
  /** For an image migrated from the legacy chat, the old URL its messages hold. */
  legacy_url?: string;
}

/** A signed URL: a GET valid until `expires_at`. */
export interface SignedUrl {
  url: string;
  expires_at: string;
}

/**
 * A chat image's signed URL, with the server's clock: `server_date` is the
 * answer's HTTP `Date` header when the client could read it (not a protocol
 * field). {@link SignedUrlCache} uses it to measure the URL's lifetime on the
 * server's clock, so a device whose clock is wrong still caches correctly.
 */
export interface ChatSignedUrl extends SignedUrl {
  server_date?: string;
}

/**
 * The answer of `POST /api/chat-images/resolve` to an old chat image URL:
 * `migrated` with the image's id and `private://chat-images/<id>` URL, or
 * `legacy` with the old URL, usable until `expires_at`.
 */
export interface ChatResolution {
  status: "migrated" | "legacy";
  image_id?: string;
  url: string;
  expires_at?: string;
  /** The answer's HTTP `Date` (not a protocol field). */
  server_date?: string;
}

/** A session's screenshot policy. */
export type ScreenshotPolicy = "allow" | "warn" | "revoke";

/** The body of `POST /v1/shares`: `photo_ids` or `angles`, never both. */
export interface ShareRequest {
  professional_id: string;
  photo_ids?: string[];
  angles?: Angle[];
  /** Seconds, 60 to 2,592,000. */
  expires_in: number;
  /** 1 to 1000. */
  max_views: number;
  /** Seconds one access lasts, 60 to 86,400 (server default 900). */
  access_window?: number;
  /** 1 to 5 (server default 1). */
  max_devices?: number;
  screenshot_policy?: ScreenshotPolicy;
  /** At most 200 printable characters. */
  purpose?: string;
}

/** A photo of a session, with what the grantee needs to check its ciphertext. */
export interface SharedPhoto {
  photo_id: string;
  angle: Angle;
  content_type: PhotoContentType;
  size: number;
  sha256: string;
}

/** A sharing session. `status` is computed at read time. */
export interface Share {
  share_id: string;
  status: "active" | "revoked" | "expired";
  patient_id: string;
  professional_id: string;
  photo_ids: string[];
  photos: SharedPhoto[];
  purpose: string;
  screenshot_policy: ScreenshotPolicy;
  max_views: number;
  views_used: number;
  access_window: number;
  max_devices: number;
  created_at: string;
  expires_at: string;
  revoked_at?: string;
}

/** An access opened on a device (`POST /v1/shares/{id}/access`). */
export interface Access {
  access_id: string;
  share_id: string;
  expires_at: string;
  photos: SharedPhoto[];
}

/** One view of one photo: its data key sealed to the access's device. */
export interface IssuedKey {
  key_id: string;
  photo_id: string;
  /** `enc || ciphertext` of HPKE base mode, base64. */
  sealed_key: string;
  kem: number;
  kdf: number;
  aead: number;
  expires_at: string;
}

/**
 * A patient's own photo key sealed to one of their devices, and a short
 * signed GET of the ciphertext (`POST /v1/photos/{id}/key`, the owner route).
 */
export interface OwnerKey {
  photo_id: string;
  /** `enc || ciphertext` of HPKE base mode, base64; info "medshare/v1/owner-key" 0x00 photo_id 0x00 owner_id. */
  sealed_key: string;
  kem: number;
  kdf: number;
  aead: number;
  /** A GET of the photo's ciphertext, valid until `expires_at` (at most 60 s). */
  url: string;
  expires_at: string;
}

/** Event types a grantee's client reports. */
export type GranteeActivity = "screenshot" | "screen_recording" | "copy_attempt" | "app_backgrounded";
/** The event type a patient reports about an access. */
export type PatientActivity = "unexpected_access";

/** One reported event; `at` defaults to now. */
export interface ActivityEvent {
  type: GranteeActivity | PatientActivity;
  /** RFC 3339, or a Date; at most 5 minutes in the future. */
  at?: string | Date;
  /** At most 200 printable characters; checked, then dropped by the server. */
  details?: string;
}

/** The server's answer to an activity report. */
export interface ActivityResult {
  action: "none" | "warned" | "revoked";
  score: number;
}

/** A notification, newest first in lists. */
export interface Notification {
  notification_id: string;
  type:
    | "session_created"
    | "session_revoked"
    | "session_accessed"
    | "photo_viewed"
    | "session_expired"
    | "suspicious_activity"
    | (string & {});
  created_at: string;
  read: boolean;
  share_id?: string;
  data?: Record<string, string>;
}

/** One record of a patient's audit chain. */
export interface AuditRecord {
  /** The canonical form the hash covers: 1 (also when absent) or 2. */
  v?: number;
  patient_id: string;
  seq: number;
  at: string;
  actor_id: string;
  actor_role: string;
  action: string;
  resource_type: string;
  resource_id: string;
  outcome: string;
  reason?: string;
  source_ip: string;
  user_agent: string;
  request_id: string;
  /** Version 2: the photo a view was of ("" when none). */
  photo_id?: string;
  /** Version 2: the sharing session the event concerns ("" when none). */
  share_id?: string;
  /** Version 2: the server's fingerprint of the device key ("" when none). */
  device?: string;
  /** Hex; empty for the first record. */
  prev_hash: string;
  /** Hex SHA-256 of the record's canonical form. */
  hash: string;
}

/** The server's recomputation of the caller's audit trail. */
export interface AuditVerification {
  valid: boolean;
  records: number;
  head_seq: number;
  head_hash?: string;
  first_bad_seq?: number;
  problem?: string;
}
