// Sign-in with an OAuth 2.0 authorization server (Cognito's hosted UI): the
// authorization-code flow with PKCE (RFC 7636, S256), never the implicit flow.
// The verifier and state live in sessionStorage only between the redirect out
// and the redirect back, and are removed when the code is exchanged.

/**
 * Where the authorization server is, and who the portal is to it: the
 * `auth` member of `/config.json` in "cognito" mode.
 */
export interface OAuthConfig {
  /** The authorization endpoint, e.g. https://auth.example.com/oauth2/authorize. */
  authorization_endpoint: string;
  /** The token endpoint, e.g. https://auth.example.com/oauth2/token. */
  token_endpoint: string;
  /** The logout endpoint, if the server has one (Cognito's /logout). */
  logout_endpoint?: string;
  /** The portal's app client id (a public client: no secret). */
  client_id: string;
  /** Where the server sends the browser back: the portal's own URL. */
  redirect_uri: string;
  /** Scopes (default ["openid"]). */
  scopes?: string[];
}

/** The tokens the token endpoint returns. */
export interface OAuthTokens {
  access_token: string;
  id_token?: string;
  token_type?: string;
  expires_in?: number;
}

/** What is kept between the redirect out and back. */
interface Pending {
  state: string;
  verifier: string;
}

const PENDING_KEY = "medshare.oauth.pending";

function base64url(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * A fresh code verifier: 32 random bytes in base64url, 43 characters of the
 * unreserved set RFC 7636 §4.1 allows.
 */
export function newVerifier(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

/** The S256 code challenge of a verifier: base64url(SHA-256(ASCII(verifier))) (RFC 7636 §4.2). */
export async function challengeOf(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/**
 * Starts a sign-in: makes a verifier and a state, keeps them in storage, and
 * returns the authorization URL to send the browser to.
 */
export async function beginSignIn(cfg: OAuthConfig, storage: Storage): Promise<string> {
  const pending: Pending = { state: newVerifier(), verifier: newVerifier() };
  storage.setItem(PENDING_KEY, JSON.stringify(pending));
  const u = new URL(cfg.authorization_endpoint);
  u.searchParams.set("response_type", "code");
  u.searchParams.set("client_id", cfg.client_id);
  u.searchParams.set("redirect_uri", cfg.redirect_uri);
  u.searchParams.set("scope", (cfg.scopes && cfg.scopes.length > 0 ? cfg.scopes : ["openid"]).join(" "));
  u.searchParams.set("state", pending.state);
  u.searchParams.set("code_challenge", await challengeOf(pending.verifier));
  u.searchParams.set("code_challenge_method", "S256");
  return u.toString();
}

/** Whether a URL is the authorization server's redirect back (it has code or error, and state). */
export function isRedirectBack(url: URL): boolean {
  return url.searchParams.has("state") && (url.searchParams.has("code") || url.searchParams.has("error"));
}

/**
 * Finishes a sign-in from the redirect back: checks the state against the one
 * kept at {@link beginSignIn} (a mismatch or a missing one is refused: the
 * redirect is not an answer to this tab's request), then exchanges the code
 * with the verifier at the token endpoint. The kept state and verifier are
 * removed first, so a code is exchanged at most once.
 */
export async function completeSignIn(
  cfg: OAuthConfig,
  url: URL,
  storage: Storage,
  fetchFn: typeof fetch = (i, init) => fetch(i, init),
): Promise<OAuthTokens> {
  const raw = storage.getItem(PENDING_KEY);
  storage.removeItem(PENDING_KEY);
  const error = url.searchParams.get("error");
  if (error) {
    const desc = url.searchParams.get("error_description");
    throw new Error(`sign-in refused: ${error}${desc ? ` (${desc})` : ""}`);
  }
  let pending: Pending | undefined;
  try {
    pending = raw ? (JSON.parse(raw) as Pending) : undefined;
  } catch {
    pending = undefined;
  }
  const state = url.searchParams.get("state");
  if (!pending || !state || state !== pending.state) {
    throw new Error("sign-in: this answer is not for a sign-in started in this tab (state mismatch)");
  }
  const code = url.searchParams.get("code") ?? "";
  const body = new URLSearchParams({
    grant_type: "authorization_code",
    client_id: cfg.client_id,
    code,
    redirect_uri: cfg.redirect_uri,
    code_verifier: pending.verifier,
  });
  const res = await fetchFn(cfg.token_endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: body.toString(),
    credentials: "omit",
    cache: "no-store",
    redirect: "error",
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`sign-in: the token endpoint answered ${res.status}`);
  const tokens = JSON.parse(text) as Partial<OAuthTokens>;
  if (typeof tokens.access_token !== "string" || !tokens.access_token) {
    throw new Error("sign-in: the token endpoint sent no access token");
  }
  return tokens as OAuthTokens;
}
