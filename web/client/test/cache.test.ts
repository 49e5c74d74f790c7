// Unit tests of SignedUrlCache with a fake source and an injected clock (the
// tests against a real server are in server.test.ts).

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { MedShareError, SignedUrlCache, chatImageId, type ChatResolution, type ChatSignedUrl } from "../src/index.js";

const T0 = Date.parse("2026-03-01T12:00:00Z");
const MIN = 60_000;

/** A source that hands out numbered URLs expiring `lifetime` after the server's now. */
function fakeSource(lifetime: number, opts: { sendDate?: boolean; skew?: number } = {}) {
  const s = {
    now: T0,
    calls: 0,
    gate: undefined as Promise<void> | undefined,
    error: undefined as Error | undefined,
    source: async (id: string): Promise<ChatSignedUrl> => {
      const n = ++s.calls;
      if (s.gate) await s.gate;
      if (s.error) throw s.error;
      const server = s.now + (opts.skew ?? 0);
      const out: ChatSignedUrl = { url: `https://store.example/${id}?n=${n}`, expires_at: new Date(server + lifetime).toISOString() };
      if (opts.sendDate) out.server_date = new Date(Math.floor(server / 1000) * 1000).toUTCString();
      return out;
    },
  };
  return s;
}

function cacheFor(s: ReturnType<typeof fakeSource>, margin?: number, maxEntries?: number) {
  return new SignedUrlCache(s.source, {
    now: () => s.now,
    ...(margin === undefined ? {} : { margin }),
    ...(maxEntries === undefined ? {} : { maxEntries }),
  });
}

test("non-private URLs pass through unchanged, without a request", async () => {
  const s = fakeSource(60 * MIN);
  const c = cacheFor(s);
  for (const u of [
    "https://cdn.example/a.png",
    "http://127.0.0.1:8080/x",
    "blob:https://app.example/1234",
    "file:///tmp/a.png",
    "data:image/png;base64,iVBORw0KGgo=",
    "",
  ]) {
    assert.equal(await c.resolve(u), u);
  }
  for (const u of ["private://photos/ph_1", "private://chat-images/", "private://chat-images/a/b", "private:x"]) {
    await assert.rejects(c.resolve(u), TypeError, u);
  }
  assert.equal(s.calls, 0);
  assert.equal(await c.resolve("PRIVATE://Chat-Images/ci_abc"), "https://store.example/ci_abc?n=1");
  assert.equal(chatImageId("private://chat-images/ci_x"), "ci_x");
  assert.equal(chatImageId("https://x"), undefined);
});

describe("one request per lifetime minus the margin, derived from expires_at", () => {
  for (const tc of [
    { name: "60 min, default margin: used for 55", lifetime: 60 * MIN, refreshAt: 55 * MIN },
    { name: "20 min, default margin", lifetime: 20 * MIN, refreshAt: 15 * MIN },
    { name: "60 min, 10 min margin", lifetime: 60 * MIN, margin: 10 * MIN, refreshAt: 50 * MIN },
    { name: "6 min: margin capped at half", lifetime: 6 * MIN, refreshAt: 3 * MIN },
    { name: "2 s: margin capped at half", lifetime: 2000, refreshAt: 1000 },
    { name: "60 min with the server's Date (whole seconds)", lifetime: 60 * MIN, sendDate: true, refreshAt: 55 * MIN - 1000 },
  ]) {
    test(tc.name, async () => {
      const s = fakeSource(tc.lifetime, { sendDate: tc.sendDate ?? false });
      const c = cacheFor(s, tc.margin);
      const first = await c.resolve("private://chat-images/ci_1");
      for (let i = 0; i < 5; i++) assert.equal(await c.resolve("private://chat-images/ci_1"), first);
      s.now += tc.refreshAt - 1;
      await c.resolve("private://chat-images/ci_1");
      assert.equal(s.calls, 1, "one request before the refresh time");
      s.now += 1;
      assert.notEqual(await c.resolve("private://chat-images/ci_1"), first);
      assert.equal(s.calls, 2, "a new request at the refresh time");
    });
  }
});

test("the lifetime is measured on the server's clock: a device two hours ahead still caches", async () => {
  const s = fakeSource(60 * MIN, { sendDate: true, skew: -120 * MIN });
  const c = cacheFor(s);
  await c.resolve("private://chat-images/ci_1");
  s.now += 50 * MIN;
  await c.resolve("private://chat-images/ci_1");
  assert.equal(s.calls, 1);
});

test("concurrent resolutions of one id share one request", async () => {
  const s = fakeSource(60 * MIN);
  let release!: () => void;
  s.gate = new Promise((r) => (release = r));
  const c = cacheFor(s);
  const all = Array.from({ length: 50 }, () => c.resolve("private://chat-images/ci_1"));
  const other = c.resolve("private://chat-images/ci_2");
  release();
  const urls = await Promise.all(all);
  assert.deepEqual(new Set(urls), new Set(["https://store.example/ci_1?n=1"]));
  assert.equal(await other, "https://store.example/ci_2?n=2");
  assert.equal(s.calls, 2);
});

test("a URL that failed is dropped and fetched again; transient failures keep it", async () => {
  const s = fakeSource(60 * MIN);
  const c = cacheFor(s);
  const first = await c.resolve("private://chat-images/ci_1");
  for (const st of [429, 500, 503]) assert.equal(c.reportFailure(first, st), false, `${st}`);
  assert.equal(c.reportFailure(first, 403), true);
  const second = await c.resolve("private://chat-images/ci_1");
  assert.notEqual(second, first);
  assert.equal(c.reportFailure(first, 403), false, "a failure of the replaced URL keeps the new one");
  assert.equal(c.reportFailure(second, 0), true, "status 0: an <img> error event");
  await c.resolve("private://chat-images/ci_1");
  c.invalidate("ci_1");
  await c.resolve("private://chat-images/ci_1");
  assert.equal(s.calls, 4);
});

test("errors and already-expired URLs are not cached", async () => {
  const s = fakeSource(60 * MIN);
  s.error = new MedShareError({ code: "not_found", message: "no", status: 404 });
  const c = cacheFor(s);
  const two = [c.resolve("private://chat-images/ci_1"), c.resolve("private://chat-images/ci_1")];
  for (const p of two) await assert.rejects(p, { code: "not_found" });
  assert.equal(s.calls, 1, "the waiters shared the failed request");
  s.error = undefined;
  await c.resolve("private://chat-images/ci_1");
  assert.equal(s.calls, 2);

  const gone = fakeSource(-1000);
  const g = cacheFor(gone);
  await g.resolve("private://chat-images/ci_1");
  await g.resolve("private://chat-images/ci_1");
  assert.equal(gone.calls, 2);
  assert.equal(g.size, 0);
});

test("a source that throws at once still settles every waiter", async () => {
  let calls = 0;
  const c = new SignedUrlCache((() => {
    calls++;
    throw new Error("boom");
  }) as never);
  await assert.rejects(c.resolve("private://chat-images/ci_1"), /boom/);
  await assert.rejects(c.resolve("private://chat-images/ci_1"), /boom/);
  assert.equal(calls, 2);
});

test("clear() forgets answers in flight (sign-out)", async () => {
  const s = fakeSource(60 * MIN);
  let release!: () => void;
  s.gate = new Promise((r) => (release = r));
  const c = cacheFor(s);
  const p = c.resolve("private://chat-images/ci_1");
  c.clear();
  release();
  assert.equal(await p, "https://store.example/ci_1?n=1");
  assert.equal(c.size, 0);
});

test("the least recently used URL is evicted past maxEntries", async () => {
  const s = fakeSource(60 * MIN);
  const c = cacheFor(s, undefined, 2);
  for (const id of ["a", "b", "a", "c", "a"]) await c.resolve("private://chat-images/" + id);
  assert.equal(c.size, 2);
  assert.equal(s.calls, 3);
  await c.resolve("private://chat-images/b");
  assert.equal(s.calls, 4);
});

describe("old chat image URLs of the legacy hosts", () => {
  const HOST = "old-chat.nyc3.digitaloceanspaces.com";
  const OLD = `https://${HOST}/images/2022/07/0b9f2c41.jpg`;

  /** A resolve route that answers `legacy` until `migrated` is set. */
  function fakeLegacy(s: ReturnType<typeof fakeSource>) {
    const l = {
      calls: [] as string[],
      migrated: undefined as string | undefined,
      source: async (url: string): Promise<ChatResolution> => {
        l.calls.push(url);
        if (!new URL(url).pathname.startsWith("/images/")) {
          throw new MedShareError({ code: "not_found", message: "chat image not found", status: 404 });
        }
        if (l.migrated) return { status: "migrated", image_id: l.migrated, url: `private://chat-images/${l.migrated}` };
        return { status: "legacy", url: OLD, expires_at: new Date(s.now + 60 * MIN).toISOString() };
      },
    };
    return l;
  }

  test("an old URL resolves to itself while not migrated, then to its image's signed URL, once per lifetime", async () => {
    const s = fakeSource(60 * MIN);
    const l = fakeLegacy(s);
    const c = new SignedUrlCache(s.source, { now: () => s.now, legacyHosts: [HOST], legacySource: l.source });
    assert.equal(await c.resolve(OLD), OLD);
    // As the app may hold it: another case in the host, the old CDN's query.
    assert.equal(await c.resolve(`https://OLD-CHAT.nyc3.digitaloceanspaces.com/images/2022/07/0b9f2c41.jpg?v=2`), OLD);
    assert.equal(l.calls.length, 1, "one resolve request for one old URL within its lifetime");
    assert.equal(s.calls, 0);

    // Migrated meanwhile: past the legacy answer's time, the next resolution
    // asks again and gets the image's signed URL, in one go.
    l.migrated = "ci_migrated";
    s.now += 56 * MIN;
    assert.equal(await c.resolve(OLD), "https://store.example/ci_migrated?n=1");
    assert.equal(l.calls.length, 2);
    // From now on the old URL is the image: no resolve request, its signed
    // URL from the cache, renewed like any image's.
    assert.equal(await c.resolve(OLD), "https://store.example/ci_migrated?n=1");
    assert.equal(await c.resolve("private://chat-images/ci_migrated"), "https://store.example/ci_migrated?n=1");
    s.now += 56 * MIN;
    assert.equal(await c.resolve(OLD), "https://store.example/ci_migrated?n=2");
    assert.equal(l.calls.length, 2);
  });

  test("concurrent resolutions of one old URL share one request", async () => {
    const s = fakeSource(60 * MIN);
    const l = fakeLegacy(s);
    l.migrated = "ci_one";
    const c = new SignedUrlCache(s.source, { now: () => s.now, legacyHosts: [HOST], legacySource: l.source });
    const got = await Promise.all(Array.from({ length: 20 }, () => c.resolve(OLD)));
    assert.deepEqual(new Set(got), new Set(["https://store.example/ci_one?n=1"]));
    assert.equal(l.calls.length, 1);
    assert.equal(s.calls, 1);
  });

  test("other hosts, http and a cache without a legacy source pass through; a refused URL rejects", async () => {
    const s = fakeSource(60 * MIN);
    const l = fakeLegacy(s);
    const c = new SignedUrlCache(s.source, { now: () => s.now, legacyHosts: [HOST], legacySource: l.source });
    for (const u of ["https://cdn.example/images/a.png", `http://${HOST}/images/a.png`, "blob:https://app.example/1"]) {
      assert.equal(await c.resolve(u), u);
    }
    assert.equal(l.calls.length, 0);
    const plain = new SignedUrlCache(s.source, { now: () => s.now, legacyHosts: [HOST] });
    assert.equal(await plain.resolve(OLD), OLD);
    await assert.rejects(c.resolve(`https://${HOST}/elsewhere/x.png`), (e: unknown) => e instanceof MedShareError && e.status === 404);
    assert.equal(c.size, 0, "a refusal is not cached");
  });

  test("clear forgets which old URLs were migrated", async () => {
    const s = fakeSource(60 * MIN);
    const l = fakeLegacy(s);
    l.migrated = "ci_x";
    const c = new SignedUrlCache(s.source, { now: () => s.now, legacyHosts: [HOST], legacySource: l.source });
    await c.resolve(OLD);
    c.clear();
    await c.resolve(OLD);
    assert.equal(l.calls.length, 2);
  });
});
