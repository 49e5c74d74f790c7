// Sign-in pieces that need no browser: the PKCE verifier and challenge
// (RFC 7636), the redirect's state check and the code exchange, and reading
// a session from a token. The browser test drives the same code through a
// fake authorization server.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { beginSignIn, challengeOf, completeSignIn, isRedirectBack, newVerifier, type OAuthConfig } from "../src/pkce.js";
import { sessionFromToken } from "../src/session.js";

/** A Storage in memory, as sessionStorage behaves. */
class MemoryStorage implements Storage {
  private m = new Map<string, string>();
  get length(): number {
    return this.m.size;
  }
  clear(): void {
    this.m.clear();
  }
  getItem(k: string): string | null {
    return this.m.get(k) ?? null;
  }
  key(i: number): string | null {
    return [...this.m.keys()][i] ?? null;
  }
  removeItem(k: string): void {
    this.m.delete(k);
  }
  setItem(k: string, v: string): void {
    this.m.set(k, String(v));
  }
  [name: string]: unknown;
}

const cfg: OAuthConfig = {
  authorization_endpoint: "https://auth.example.test/oauth2/authorize",
  token_endpoint: "https://auth.example.test/oauth2/token",
  client_id: "portal-client",
  redirect_uri: "https://portal.example.test/",
  scopes: ["openid", "email"],
};

describe("PKCE", () => {
  test("the challenge of RFC 7636 appendix B", async () => {
    assert.equal(await challengeOf("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  });

  test("verifiers are 43 unreserved characters, fresh each time", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const v = newVerifier();
      assert.match(v, /^[A-Za-z0-9\-._~]{43}$/);
      seen.add(v);
    }
    assert.equal(seen.size, 50);
  });

  test("begin: the authorization URL asks for a code with an S256 challenge of the kept verifier", async () => {
    const store = new MemoryStorage();
    const u = new URL(await beginSignIn(cfg, store));
    assert.equal(u.origin + u.pathname, cfg.authorization_endpoint);
    const q = Object.fromEntries(u.searchParams);
    assert.equal(q["response_type"], "code", "authorization code, never the implicit flow");
    assert.equal(q["client_id"], cfg.client_id);
    assert.equal(q["redirect_uri"], cfg.redirect_uri);
    assert.equal(q["scope"], "openid email");
    assert.equal(q["code_challenge_method"], "S256");
    const kept = JSON.parse(store.getItem("medshare.oauth.pending")!) as { state: string; verifier: string };
    assert.equal(q["state"], kept.state);
    assert.equal(q["code_challenge"], await challengeOf(kept.verifier));
    assert.ok(!u.toString().includes(kept.verifier), "the verifier never leaves the tab");
  });

  test("complete: the code is exchanged once, with the verifier; a wrong or replayed state is refused", async () => {
    const store = new MemoryStorage();
    const auth = new URL(await beginSignIn(cfg, store));
    const state = auth.searchParams.get("state")!;
    const sent: URLSearchParams[] = [];
    const fakeFetch: typeof fetch = async (input, init) => {
      assert.equal(String(input), cfg.token_endpoint);
      assert.equal(init?.method, "POST");
      assert.equal(new Headers(init?.headers).get("Content-Type"), "application/x-www-form-urlencoded");
      sent.push(new URLSearchParams(String(init?.body)));
      return new Response(JSON.stringify({ access_token: "at", id_token: "it", token_type: "Bearer", expires_in: 3600 }), { status: 200 });
    };
    const back = new URL(`${cfg.redirect_uri}?code=the-code&state=${state}`);
    assert.ok(isRedirectBack(back));
    const tokens = await completeSignIn(cfg, back, store, fakeFetch);
    assert.equal(tokens.access_token, "at");
    assert.equal(sent.length, 1);
    const body = Object.fromEntries(sent[0]!);
    assert.equal(body["grant_type"], "authorization_code");
    assert.equal(body["code"], "the-code");
    assert.equal(body["client_id"], cfg.client_id);
    assert.equal(body["redirect_uri"], cfg.redirect_uri);
    assert.equal(await challengeOf(body["code_verifier"]!), auth.searchParams.get("code_challenge"));
    assert.equal(store.getItem("medshare.oauth.pending"), null, "the verifier is gone once used");

    await assert.rejects(completeSignIn(cfg, back, store, fakeFetch), /state mismatch/, "a replayed redirect");
    await beginSignIn(cfg, store);
    await assert.rejects(completeSignIn(cfg, new URL(`${cfg.redirect_uri}?code=c&state=forged`), store, fakeFetch), /state mismatch/);
    assert.equal(sent.length, 1, "nothing was sent for a refused redirect");
    await beginSignIn(cfg, store);
    await assert.rejects(
      completeSignIn(cfg, new URL(`${cfg.redirect_uri}?error=access_denied&error_description=no&state=x`), store, fakeFetch),
      /access_denied \(no\)/,
    );
  });
});

function jwt(claims: Record<string, unknown>): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${b64({ alg: "ES256" })}.${b64(claims)}.c2ln`;
}

test("a session from a token: subject, one role (array or API Gateway's rendering), expiry", () => {
  const exp = Math.floor(Date.now() / 1000) + 600;
  const s = sessionFromToken(`Bearer ${jwt({ sub: "u1", "cognito:groups": ["patient"], exp, username: "jane" })}`);
  assert.deepEqual([s.sub, s.role, s.name, s.expiresAt], ["u1", "patient", "jane", exp * 1000]);
  assert.equal(sessionFromToken(jwt({ sub: "u2", "cognito:groups": "[professional]" })).role, "professional");
  assert.throws(() => sessionFromToken("not a token"), /three parts/);
  assert.throws(() => sessionFromToken(jwt({ "cognito:groups": ["patient"] })), /no subject/);
  assert.throws(() => sessionFromToken(jwt({ sub: "u", "cognito:groups": ["patient", "clinic"] })), /exactly one role/);
  assert.throws(() => sessionFromToken(jwt({ sub: "u", "cognito:groups": ["patient"], exp: 1 })), /expired/);
});
