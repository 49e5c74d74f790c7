// Who is signed in: a bearer token and what the portal reads from it. The
// token is kept in sessionStorage (this tab only, gone when it closes), never
// in localStorage. The portal does not verify the token: the server does on
// every request; the claims only choose the views.

import type { OAuthConfig } from "./pkce.js";

/** The roles the portal has views for. */
export type Role = "patient" | "professional" | "clinic";

/** A signed-in user. */
export interface Session {
  token: string;
  /** The token's subject: the user id the server knows. */
  sub: string;
  role: Role;
  /** A name to show: the token's username or email, else its subject. */
  name: string;
  /** When the token expires (ms since the epoch), if it says. */
  expiresAt?: number;
}

/** The portal's runtime configuration: `/config.json` from the server (shared/httpapi/portal). */
export interface PortalConfig {
  /** The API's base URL; "" (or absent) for the page's own origin. */
  api_base_url?: string;
  /** How to sign in: "token" (paste one, or a demo identity) or "cognito" (the hosted UI, with PKCE). */
  auth: { mode: "token" } | ({ mode: "cognito" } & OAuthConfig);
  /** Whether `GET /demo/identities` answers (`medshare serve --demo` on a loopback address). */
  demo_sign_in?: boolean;
}

/** The answer of `GET /demo/identities`. */
export interface DemoIdentities {
  appointment_id: string;
  identities: { role: Role; id: string; token: string }[];
}

const SESSION_KEY = "medshare.session";

function decodeSegment(seg: string): unknown {
  const b64 = seg.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
}

const ROLES: readonly Role[] = ["patient", "professional", "clinic"];

/**
 * Reads a session from a JWT: its subject, its one role from
 * `cognito:groups` (an array, or API Gateway's "[patient]" rendering), its
 * expiry. Throws an Error saying what is wrong with a token it cannot use.
 */
export function sessionFromToken(token: string): Session {
  const t = token.trim().replace(/^Bearer\s+/i, "");
  const parts = t.split(".");
  if (parts.length !== 3 || !parts[1]) throw new Error("this is not a token (a JWT has three parts separated by dots)");
  let claims: Record<string, unknown>;
  try {
    claims = decodeSegment(parts[1]) as Record<string, unknown>;
  } catch {
    throw new Error("this token's claims are not readable JSON");
  }
  const sub = claims["sub"];
  if (typeof sub !== "string" || !sub) throw new Error("this token names no subject");
  let groups = claims["cognito:groups"];
  if (typeof groups === "string") groups = groups.replace(/^\[|\]$/g, "").split(/[ ,]+/);
  const roles = Array.isArray(groups) ? groups.filter((g): g is Role => ROLES.includes(g as Role)) : [];
  if (roles.length !== 1) throw new Error("this token must carry exactly one role: patient, professional or clinic");
  const s: Session = { token: t, sub, role: roles[0]!, name: sub };
  for (const k of ["username", "cognito:username", "email"]) {
    const v = claims[k];
    if (typeof v === "string" && v && v !== sub) {
      s.name = v;
      break;
    }
  }
  if (typeof claims["exp"] === "number") {
    s.expiresAt = claims["exp"] * 1000;
    if (s.expiresAt <= Date.now()) throw new Error("this token has expired");
  }
  return s;
}

/** The session kept in this tab, if any and not expired. */
export function loadSession(storage: Storage): Session | undefined {
  const raw = storage.getItem(SESSION_KEY);
  if (!raw) return undefined;
  try {
    return sessionFromToken((JSON.parse(raw) as { token: string }).token);
  } catch {
    storage.removeItem(SESSION_KEY);
    return undefined;
  }
}

/** Keeps a session in this tab (only its token: the rest is read from it again). */
export function saveSession(storage: Storage, s: Session): void {
  storage.setItem(SESSION_KEY, JSON.stringify({ token: s.token }));
}

/** Forgets the session of this tab. */
export function clearSession(storage: Storage): void {
  storage.removeItem(SESSION_KEY);
}
