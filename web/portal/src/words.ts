// What the server's codes mean, in words a patient or professional reads.

import type { AuditRecord, Notification } from "@medshare/client";

const ACTIONS: Record<string, string> = {
  "photo.finalize": "Photo uploaded",
  "photo.delete": "Photo deleted",
  "photo.view": "You viewed your photo",
  "share.create": "Session created",
  "share.revoke": "Session revoked",
  "share.expire": "Session expired",
  "access.open": "Session opened on a device",
  "key.issue": "Photo viewed",
  "key.claim": "Photo downloaded (encrypted)",
  "activity.report": "Activity reported",
  "chat_image.upload": "Chat image sent",
  "chat_image.signed_url": "Chat image opened",
  "chat_image.list": "Chat images listed",
  "appointment.register": "Appointment registered",
};

/** An audit action in words. */
export function actionText(r: AuditRecord): string {
  return ACTIONS[r.action] ?? r.action;
}

const NOTES: Record<string, string> = {
  session_created: "A session was shared with you",
  session_accessed: "Your session was opened on a device",
  photo_viewed: "A photo of yours was viewed",
  session_revoked: "A session was revoked",
  session_expired: "A session expired",
  suspicious_activity: "Suspicious activity on a session",
  device_mismatch: "Another device was refused",
  daily_report: "Daily report",
};

/** A notification's type in words. */
export function noteText(n: Notification): string {
  return NOTES[n.type] ?? n.type;
}

const ERRORS: Record<string, string> = {
  session_revoked: "The patient revoked this session.",
  session_expired: "This session, or this device's access to it, has expired.",
  views_exhausted: "No views are left in this session.",
  device_mismatch: "This session is bound to another device.",
  key_used: "This view's key was already used.",
  key_expired: "This view's key expired before it was used.",
};

/** A grantee's refusal in words, or undefined for other codes. */
export function refusalText(code: string): string | undefined {
  return ERRORS[code];
}

/** A screenshot policy explained to the professional who views under it. */
export function policyText(policy: string): string {
  switch (policy) {
    case "allow":
      return "Screenshots are allowed; they are recorded.";
    case "revoke":
      return "A screenshot ends this session at once.";
    default:
      return "Screenshots are reported to the patient and count towards ending the session.";
  }
}

/** The short form of a device fingerprint ("sha256:" and 64 hex digits). */
export function shortDevice(fp: string): string {
  const hex = fp.replace(/^sha256:/, "");
  return hex ? `device ${hex.slice(0, 12)}` : "—";
}
