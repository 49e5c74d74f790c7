// The portals in a real browser: Debian's Chromium driven by playwright-core
// against a real `medshare serve --demo` (built from this checkout, serving
// the committed web/dist) on a free loopback port. Each scenario of issue 11
// §4 is one test, in the order a patient and a professional would meet
// them; they share the server, the browser and the signed-in pages. Every
// view is checked with axe-core (no critical or serious violation) and
// photographed (into docs/screenshots/ by `make screenshots`).

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, test } from "node:test";

import type { Browser, BrowserContext, Page, Route } from "playwright-core";

import { Server } from "../../client/test/harness.js";
import { axeCheck, launch, newContext, screenshot, tabTo, until, watchPage } from "./chromium.js";
import { makePng, type TestImage } from "./png.js";

// Chat URLs live 20 s here, so the test sees one expire and be replaced.
const CHAT_URL_TTL_S = 20;

let server: Server;
let browser: Browser;
const contexts: BrowserContext[] = [];
const problems = new Map<string, string[]>();

let patient: Page;
let pro: Page;

/** A signed-in page in a context of its own (its own storage: another device). */
async function openPage(name: string): Promise<Page> {
  const ctx = await newContext(browser);
  ctx.setDefaultTimeout(30_000);
  contexts.push(ctx);
  const page = await ctx.newPage();
  problems.set(name, watchPage(page));
  return page;
}

async function signInDemo(page: Page, button: RegExp): Promise<void> {
  await page.goto(server.url + "/");
  await page.getByRole("button", { name: button }).click();
  await page.getByRole("navigation", { name: "Sections" }).waitFor();
}

async function go(page: Page, route: string, heading: string | RegExp): Promise<void> {
  await page.evaluate((r) => {
    window.location.hash = r;
  }, route);
  await page.getByRole("heading", { level: 1, name: heading }).waitFor();
}

/** axe-core on the page as it is: no critical or serious violation. */
async function accessible(page: Page, view: string): Promise<void> {
  const v = await axeCheck(page);
  assert.deepEqual(v, [], `${view}: axe-core found critical or serious violations:\n${JSON.stringify(v, null, 2)}`);
}

/** The API, as a user, from the test (to check what the server recorded). */
async function api<T>(token: string, path: string): Promise<T> {
  const r = await fetch(server.url + path, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(r.status, 200, `GET ${path}: ${r.status} ${await r.clone().text()}`);
  return (await r.json()) as T;
}

interface Record {
  seq: number;
  reason?: string;
  at: string;
  action: string;
  actor_id: string;
  resource_id: string;
  outcome: string;
  photo_id?: string;
  share_id?: string;
  device?: string;
}

async function auditOf(token: string): Promise<Record[]> {
  const out: Record[] = [];
  let cursor = "";
  do {
    const page = await api<{ items: Record[]; next_cursor?: string }>(token, `/v1/audit?limit=100${cursor ? `&cursor=${cursor}` : ""}`);
    out.push(...page.items);
    cursor = page.next_cursor ?? "";
  } while (cursor);
  return out;
}

/** The pixels of the photo canvas on a page. */
function canvasPixels(page: Page): Promise<{ width: number; height: number; data: number[] }> {
  return page.locator("canvas.photo").first().evaluate((c: HTMLCanvasElement) => ({
    width: c.width,
    height: c.height,
    data: Array.from(c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data),
  }));
}

/** Checks that whose canvas on page holds the test photo's original pixels. */
async function assertOriginalPixels(page: Page, whose: string): Promise<void> {
  const px = await canvasPixels(page);
  assert.deepEqual([px.width, px.height], [photo.width, photo.height]);
  assert.ok(Buffer.from(px.data).equals(Buffer.from(photo.rgba)), `${whose} canvas holds the original pixels`);
}

const photo: TestImage = makePng(240, 160, (x, y) => [x, (y * 3) >> 1, 255 - ((x + y) >> 1)]);
const chatImage: TestImage = makePng(160, 120, (x, y) => [200, (x * 3) & 255, (y * 4) & 255]);

let shareId = "";

// The scenarios build on each other: once one fails, the next ones fail at
// once with that reason instead of waiting out their own timeouts.
let broken = "";
function step(name: string, fn: () => Promise<void> | void): void {
  test(name, async () => {
    if (broken) throw new Error(`not run: an earlier scenario failed (${broken})`);
    try {
      await fn();
    } catch (e) {
      broken = name;
      throw e;
    }
  });
}

describe("the portals in Chromium", { timeout: 240_000 }, () => {
  before(async () => {
    server = await Server.start({ MEDSHARE_CHAT_URL_TTL: `${CHAT_URL_TTL_S}s` });
    browser = await launch();
    patient = await openPage("patient");
    pro = await openPage("professional");
  });
  after(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await server?.stop();
  });

  step("the page: strict CSP and security headers, SRI that refuses a changed script, the sign-in view", async () => {
    const res = await fetch(server.url + "/");
    assert.equal(res.status, 200);
    const csp = res.headers.get("content-security-policy") ?? "";
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:\/\/(?!127\.0\.0\.1)/, "no inline code, no eval, no third-party origin");
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");

    // A script whose bytes are not the ones index.html pins never runs.
    const tampered = await openPage("tampered");
    await tampered.route(/\/assets\/app-[A-Z0-9]+\.js$/, async (route: Route) => {
      const r = await route.fetch();
      await route.fulfill({ response: r, body: (await r.text()) + "\n;document.title='tampered';" });
    });
    const refused = tampered.waitForEvent("console", (m) => /integrity/i.test(m.text()));
    await tampered.goto(server.url + "/");
    await refused;
    assert.equal(await tampered.locator(".boot").textContent(), "Loading MedShare…");
    assert.notEqual(await tampered.title(), "tampered");
    problems.delete("tampered");

    await patient.goto(server.url + "/");
    await patient.getByRole("heading", { name: "Sign in to MedShare" }).waitFor();
    await patient.getByRole("button", { name: /Patient portal: demo-patient/ }).waitFor();
    await accessible(patient, "sign-in");
    await screenshot(patient, "sign-in");

    // Keyboard alone: Tab to the demo patient and press Enter.
    await tabTo(patient, patient.getByRole("button", { name: /Patient portal/ }));
    await patient.keyboard.press("Enter");
    await patient.getByRole("heading", { level: 1, name: "Your photos" }).waitFor();
    assert.equal(await patient.evaluate(() => localStorage.length), 0, "no token in localStorage");

    await signInDemo(pro, /Professional portal: demo-professional/);
  });

  step("a patient uploads a photo in the browser (encrypted, with progress) and sees it by angle, decrypted through the owner route", async () => {
    await patient.getByLabel("Photo", { exact: true }).setInputFiles({ name: "crown-march.png", mimeType: "image/png", buffer: photo.png });
    await patient.getByLabel("Angle").selectOption("CROWN");
    await patient.getByLabel("Notes (optional, encrypted)").fill("three months after");
    await patient.getByRole("button", { name: "Encrypt and upload" }).click();
    await patient.getByText(/Uploaded crown-march\.png as CROWN/).waitFor();
    assert.equal(await patient.locator("progress").evaluate((p: HTMLProgressElement) => p.value), 1);

    const photos = await api<{ items: { photo_id: string; size: number; metadata?: string }[] }>(server.patientToken, "/v1/photos");
    assert.equal(photos.items.length, 1);
    assert.equal(photos.items[0]!.size, photo.png.length + 29, "the server holds the ciphertext");
    assert.ok(!Buffer.from(photos.items[0]!.metadata ?? "", "base64").toString("latin1").includes("crown-march"), "the file name is encrypted");

    await patient.getByRole("heading", { name: "CROWN (1)" }).waitFor();
    await patient.getByRole("button", { name: "Show" }).click();
    await patient.getByText("crown-march.png — three months after").waitFor();
    await assertOriginalPixels(patient, "the patient's");
    const audit = await auditOf(server.patientToken);
    assert.ok(audit.some((r) => r.action === "photo.view" && r.photo_id === photos.items[0]!.photo_id), "the owner's view is audited");
    await accessible(patient, "patient photos");
    await screenshot(patient, "patient-photos");
  });

  step("the patient shares it with a professional", async () => {
    await go(patient, "#/share", "Share photos");
    await patient.getByLabel("Professional's user id").fill("demo-professional");
    await patient.getByLabel(/CROWN photo of/).check();
    await patient.getByLabel("Views allowed").fill("3");
    await patient.getByLabel("Screenshots").selectOption("warn");
    await patient.getByLabel("Purpose (optional)").fill("second opinion");
    await accessible(patient, "share");
    await screenshot(patient, "patient-share");
    await patient.getByRole("button", { name: "Create session" }).click();
    await patient.getByRole("heading", { level: 1, name: "Sharing sessions" }).waitFor();
    await patient.getByRole("heading", { name: /With demo-professional/ }).waitFor();
    const shares = await api<{ items: { share_id: string; max_views: number; purpose: string }[] }>(server.patientToken, "/v1/shares");
    assert.equal(shares.items.length, 1);
    assert.deepEqual([shares.items[0]!.max_views, shares.items[0]!.purpose], [3, "second opinion"]);
    shareId = shares.items[0]!.share_id;
    // The patient watches notifications arrive while the professional works.
    await go(patient, "#/notifications", "Notifications");
    await patient.getByText("Nothing yet.").waitFor();
  });

  step("a professional in a second browser opens it on this device and views it: the canvas holds the original pixels; the device key cannot be exported", async () => {
    await pro.getByRole("heading", { name: /From demo-patient/ }).waitFor();
    await accessible(pro, "professional sessions");
    await screenshot(pro, "professional-sessions");
    await pro.getByRole("link", { name: "Open session" }).click();
    await pro.getByRole("heading", { level: 1, name: "Shared session" }).waitFor();
    await pro.getByText("Screenshots are reported to the patient").waitFor();
    await pro.getByRole("button", { name: "Open on this device" }).click();
    await pro.getByRole("button", { name: "View CROWN photo 1" }).click();
    await pro.locator("canvas.photo").waitFor();
    await assertOriginalPixels(pro, "the professional's");
    // The watermark names the professional and the time, on a canvas over the photo.
    await pro.getByText(/demo-professional · \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/).waitFor();
    assert.ok((await pro.locator("canvas.watermark").evaluate((c: HTMLCanvasElement) => c.width)) > 0);
    // No download link, no context menu, no drag.
    assert.equal(await pro.locator("a[download], a[href^='blob:'], img[src^='blob:']").count(), 0);
    const menu = await pro.locator("canvas.photo").evaluate((c) => !c.dispatchEvent(new MouseEvent("contextmenu", { bubbles: true, cancelable: true })));
    const drag = await pro.locator("canvas.photo").evaluate((c) => !c.dispatchEvent(new DragEvent("dragstart", { bubbles: true, cancelable: true })));
    assert.deepEqual([menu, drag], [true, true], "the context menu and dragging are cancelled");

    const key = await pro.evaluate(async () => {
      const db = await new Promise<IDBDatabase>((res, rej) => {
        const r = indexedDB.open("medshare");
        r.onsuccess = () => res(r.result);
        r.onerror = () => rej(r.error);
      });
      const stored = await new Promise<{ key_pair: CryptoKeyPair; fingerprint: string }>((res, rej) => {
        const r = db.transaction("devices").objectStore("devices").get("user:demo-professional");
        r.onsuccess = () => res(r.result as { key_pair: CryptoKeyPair; fingerprint: string });
        r.onerror = () => rej(r.error);
      });
      const out: string[] = [];
      for (const format of ["pkcs8", "jwk", "raw"] as const) {
        try {
          await crypto.subtle.exportKey(format, stored.key_pair.privateKey);
          out.push(`${format}: exported`);
        } catch (e) {
          out.push(`${format}: ${(e as Error).name}`);
        }
      }
      return { extractable: stored.key_pair.privateKey.extractable, algorithm: stored.key_pair.privateKey.algorithm.name, fingerprint: stored.fingerprint, out };
    });
    assert.equal(key.extractable, false);
    assert.equal(key.algorithm, "X25519");
    assert.deepEqual(key.out, ["pkcs8: InvalidAccessError", "jwk: InvalidAccessError", "raw: InvalidAccessError"], "exportKey rejects");
    const opened = (await auditOf(server.patientToken)).find((r) => r.action === "access.open" && r.share_id === shareId);
    assert.ok(opened, "access.open recorded");
    assert.equal(opened.device, key.fingerprint, "the session is bound to the key made in this browser");

    // The screenshot policy (warn): leaving the page and a screenshot are reported; the server's answer is shown.
    await pro.evaluate(() => window.dispatchEvent(new Event("blur")));
    await until(
      "app_backgrounded is reported",
      async () => (await auditOf(server.patientToken)).filter((r) => r.action === "activity.report").map((r) => r.reason),
      (reasons) => reasons.includes("app_backgrounded"),
    );
    await pro.evaluate(() => window.dispatchEvent(new Event("focus")));
    await pro.keyboard.press("PrintScreen");
    await pro.getByText("Your screenshot was reported to the patient, who has been warned (score 45).").waitFor();
    assert.equal(await pro.locator("canvas.photo").count(), 1, "a warning does not end the session");

    await accessible(pro, "viewer");
    await screenshot(pro, "professional-viewer");
  });

  step("the patient sees the view count go up, the access, notifications without reloading, and history naming the photo; verifies the chain", async () => {
    // Still on #/notifications since before the professional came: no reload.
    await patient.getByText("A photo of yours was viewed").waitFor();
    await patient.getByText("Your session was opened on a device").waitFor();
    await patient.getByText("Suspicious activity on a session").waitFor();
    await patient.getByText(/score 45 · events: screenshot/).waitFor();
    await accessible(patient, "notifications");
    await screenshot(patient, "patient-notifications");

    await go(patient, "#/sessions", "Sharing sessions");
    await patient.locator(".session .views", { hasText: "1 / 3" }).waitFor();
    await patient.getByRole("cell", { name: /^device [0-9a-f]{12}$/ }).waitFor();
    await patient.getByRole("cell", { name: "127.0.0.1" }).waitFor();
    await patient.getByRole("cell", { name: "45", exact: true }).waitFor();
    await accessible(patient, "sessions");
    await screenshot(patient, "patient-sessions");

    await go(patient, "#/history", "Access history");
    const viewRow = patient.locator("tr", { hasText: "Photo viewed" }).first();
    await viewRow.waitFor();
    assert.match((await viewRow.textContent()) ?? "", /CROWN,.*demo-professional \(professional\).*127\.0\.0\.1.*device [0-9a-f]{12}/);
    await patient.getByRole("button", { name: "Verify audit chain" }).click();
    await patient.getByText(/The server verified the chain: \d+ records intact/).waitFor();
    await patient.getByText(/This browser recomputed \d+ hashes and \d+ links: all match\./).waitFor();
    await accessible(patient, "history");
    await screenshot(patient, "patient-history");
  });

  step("revoking in the patient's page makes the professional's next view fail and wipes the canvas", async () => {
    const canvas = await pro.locator("canvas.photo").elementHandle();
    assert.ok(canvas);
    // Hold the viewer's own reading of the session, so that what it learns
    // from is the next view's answer.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const sessionGet = new RegExp(`/v1/shares/${shareId}$`);
    await pro.route(sessionGet, async (route) => {
      await held;
      await route.continue().catch(() => undefined);
    });

    await go(patient, "#/sessions", "Sharing sessions");
    await tabTo(patient, patient.getByRole("button", { name: "Revoke" }));
    await patient.keyboard.press("Enter");
    await patient.locator(".badge.revoked").waitFor();

    await pro.getByRole("button", { name: "View CROWN photo 1" }).click();
    await pro.getByText("The patient revoked this session.").first().waitFor();
    assert.equal(await canvas.evaluate((c: HTMLCanvasElement) => [c.width, c.height, c.isConnected].join()), "0,0,false", "the canvas is wiped");
    assert.equal(await pro.locator("canvas").count(), 0);
    const denied = (await auditOf(server.patientToken)).find((r) => r.action === "key.issue" && r.outcome === "denied");
    assert.ok(denied, "the refused view is in the patient's audit trail");
    release();
    await pro.unroute(sessionGet);
  });

  step("screenshot_policy revoke: a PrintScreen key press ends the session", async () => {
    await go(patient, "#/share", "Share photos");
    await patient.getByLabel("Professional's user id").fill("demo-professional");
    await patient.getByLabel("every photo of chosen angles").check();
    await patient.getByRole("checkbox", { name: "CROWN" }).check();
    await patient.getByLabel("Screenshots").selectOption("revoke");
    await patient.getByRole("button", { name: "Create session" }).click();
    await patient.getByRole("heading", { level: 1, name: "Sharing sessions" }).waitFor();

    await go(pro, "#/sessions", "Sessions shared with you");
    const card = pro.locator(".session", { hasText: "A screenshot ends this session at once." });
    await card.getByRole("link", { name: "Open session" }).click();
    await pro.getByRole("button", { name: "Open on this device" }).click();
    await pro.getByRole("button", { name: "View CROWN photo 1" }).click();
    await pro.locator("canvas.photo").waitFor();
    // A copy is cancelled and reported (30: not enough to end the session).
    const copied = await pro.evaluate(() => !document.dispatchEvent(new ClipboardEvent("copy", { bubbles: true, cancelable: true })));
    assert.equal(copied, true, "the copy is cancelled");
    await until(
      "copy_attempt is reported",
      async () => (await auditOf(server.patientToken)).filter((r) => r.action === "activity.report").map((r) => r.reason),
      (reasons) => reasons.includes("copy_attempt"),
    );
    assert.equal(await pro.locator("canvas.photo").count(), 1);
    await pro.keyboard.press("PrintScreen");
    await pro.getByText("Your screenshot was reported to the patient and the session is now revoked.").first().waitFor();
    assert.equal(await pro.locator("canvas").count(), 0, "the photo is wiped");
    const shares = await api<{ items: { share_id: string; status: string; screenshot_policy: string }[] }>(server.patientToken, "/v1/shares");
    assert.deepEqual(
      shares.items.filter((s) => s.screenshot_policy === "revoke").map((s) => s.status),
      ["revoked"],
    );
  });

  step("the end of the access window wipes the photo (the page's clock is moved on; the server's is not)", async () => {
    await go(patient, "#/share", "Share photos");
    await patient.getByLabel("Professional's user id").fill("demo-professional");
    await patient.getByLabel(/CROWN photo of/).check();
    await patient.getByLabel("Each opening lasts").selectOption("300");
    await patient.getByLabel("Purpose (optional)").fill("five minutes");
    await patient.getByRole("button", { name: "Create session" }).click();
    await patient.getByRole("heading", { level: 1, name: "Sharing sessions" }).waitFor();

    // Another device of the professional, whose page runs on a clock the test moves.
    const other = await openPage("professional-clock");
    await other.clock.install();
    await signInDemo(other, /Professional portal: demo-professional/);
    const card = other.locator(".session", { hasText: "five minutes" });
    await card.getByRole("link", { name: "Open session" }).click();
    await other.getByRole("button", { name: "Open on this device" }).click();
    await other.getByRole("button", { name: "View CROWN photo 1" }).click();
    const canvas = await other.locator("canvas.photo").elementHandle();
    assert.ok(canvas);
    await other.clock.fastForward(300_000 + 1000);
    await other.getByText("This device's access window has ended: open the session again to continue.").first().waitFor();
    assert.equal(await canvas.evaluate((c: HTMLCanvasElement) => [c.width, c.height, c.isConnected].join()), "0,0,false", "the canvas is wiped");
  });

  step("chat: an image sent by one participant shows for the other through the cache; refreshed when due, one signed-URL request per cached lifetime", async () => {
    await go(patient, "#/chat", "Chat images");
    assert.equal(await patient.getByLabel("Appointment id").inputValue(), server.appointmentId, "the demo appointment is offered");
    await accessible(patient, "chat: choose an appointment");
    await patient.getByRole("button", { name: "Show chat" }).click();
    await patient.getByRole("heading", { level: 1, name: `Chat images of ${server.appointmentId}` }).waitFor();
    await patient.getByLabel("Image", { exact: true }).setInputFiles({ name: "rash.png", mimeType: "image/png", buffer: chatImage.png });
    await patient.getByRole("button", { name: "Send image" }).click();
    await patient.getByRole("img", { name: "Image you sent: rash.png" }).waitFor();
    await patient.getByText(/^Sent /).waitFor();
    await accessible(patient, "chat");
    await screenshot(patient, "chat");

    await go(pro, `#/chat/${server.appointmentId}`, `Chat images of ${server.appointmentId}`);
    const img = pro.getByRole("img", { name: /^Image from demo-patient/ });
    await img.waitFor();
    const loaded = (): Promise<{ src: string; w: number }> =>
      img.evaluate((i: HTMLImageElement) => ({ src: i.src, w: i.complete ? i.naturalWidth : 0 }));
    const first = await until("the image loads", loaded, (v) => v.w === chatImage.width);
    const bytes = Buffer.from(await (await fetch(first.src)).arrayBuffer());
    assert.equal(createHash("sha256").update(bytes).digest("hex"), createHash("sha256").update(chatImage.png).digest("hex"));
    await accessible(pro, "chat (professional)");

    // The URL expires after 20 s; before it does, the page has a new one.
    const expired = await until("the first URL expires at the store", () => fetch(first.src).then((r) => r.status), (s) => s === 403);
    assert.equal(expired, 403);
    const second = await until("the page shows a new URL, loaded", loaded, (v) => v.src !== first.src && v.w === chatImage.width);
    const listed = await api<{ items: { image_id: string }[] }>(server.proToken, `/api/appointments/${server.appointmentId}/chat-images`);
    assert.equal(listed.items.length, 1);
    const imageId = listed.items[0]!.image_id;
    const granted = (await auditOf(server.patientToken))
      .filter((r) => r.action === "chat_image.signed_url" && r.outcome === "success" && r.actor_id === "demo-professional")
      .filter((r) => r.resource_id === imageId)
      .sort((a, b) => a.seq - b.seq);
    assert.ok(granted.length >= 2, `the page asked again: ${granted.length}`);
    // The cache keeps a URL for its lifetime less a margin of at most half
    // of it: with 20 s URLs, one request per ~10 s at most, never more.
    const minGapMs = (CHAT_URL_TTL_S * 1000) / 2 - 2000;
    for (let i = 1; i < granted.length; i++) {
      const gap = Date.parse(granted[i]!.at) - Date.parse(granted[i - 1]!.at);
      assert.ok(gap >= minGapMs, `signed-URL requests ${gap} ms apart, under ${minGapMs} ms`);
    }

    // A URL the store refuses (403) is dropped and the page asks for a new one:
    // the store's next answer for this image is a 403, whichever URL the page holds.
    const before = granted.length;
    const refused: string[] = [];
    const ofImage = (u: URL): boolean => u.href.includes(imageId) && !u.pathname.startsWith("/api/");
    await pro.route(ofImage, async (route) => {
      if (refused.length === 0) {
        refused.push(route.request().url());
        await route.fulfill({ status: 403, body: "expired" });
      } else {
        await route.continue();
      }
    });
    await go(pro, "#/notifications", "Notifications");
    await go(pro, `#/chat/${server.appointmentId}`, `Chat images of ${server.appointmentId}`);
    const third = await until("a new URL replaces the refused one", loaded, (v) => refused.length === 1 && v.src !== refused[0] && v.w === chatImage.width);
    assert.notEqual(third.src, refused[0]);
    const after = (await auditOf(server.patientToken)).filter(
      (r) => r.action === "chat_image.signed_url" && r.outcome === "success" && r.actor_id === "demo-professional" && r.resource_id === imageId,
    );
    assert.ok(after.length > before, `a new signed URL was asked for after the refusal (${before} → ${after.length})`);
    await pro.unroute(ofImage);
    await screenshot(pro, "chat-professional");
  });

  step("a stranger's token sees no session, photo, image or notification", async () => {
    const strangerPro = await openPage("stranger-professional");
    await strangerPro.goto(server.url + "/");
    await strangerPro.getByLabel("Bearer token").fill(server.token("stranger-pro", "professional"));
    await strangerPro.getByRole("button", { name: "Sign in with this token" }).click();
    await strangerPro.getByText("No patient has shared photos with you yet.").waitFor();
    await go(strangerPro, "#/notifications", "Notifications");
    await strangerPro.getByText("Nothing yet.").waitFor();
    await go(strangerPro, `#/session/${shareId}`, "Shared session");
    await strangerPro.getByText("This session is no longer available.").first().waitFor();
    assert.equal(await strangerPro.getByRole("button", { name: "Open on this device" }).isVisible(), false);
    await go(strangerPro, `#/chat/${server.appointmentId}`, `Chat images of ${server.appointmentId}`);
    await strangerPro.getByText(/not found/).first().waitFor();
    assert.equal(await strangerPro.locator("img").count(), 0);

    const strangerPatient = await openPage("stranger-patient");
    await strangerPatient.goto(server.url + "/");
    await strangerPatient.getByLabel("Bearer token").fill(server.token("stranger-patient", "patient"));
    await strangerPatient.getByRole("button", { name: "Sign in with this token" }).click();
    await strangerPatient.getByText(/No photos yet/).waitFor();
    await go(strangerPatient, "#/sessions", "Sharing sessions");
    await strangerPatient.getByText("No sessions yet.").waitFor();
    await go(strangerPatient, "#/history", "Access history");
    await strangerPatient.getByText("No records yet.").waitFor();
    assert.equal(await strangerPatient.locator("tbody tr").count(), 0);
  });

  step("hosted-UI sign-in: authorization code with PKCE against a fake authorization server; tokens never in localStorage", async () => {
    const page = await openPage("oauth");
    const redirect = server.url + "/";
    const cfg = {
      api_base_url: "",
      auth: {
        mode: "cognito",
        authorization_endpoint: server.url + "/fake-idp/oauth2/authorize",
        token_endpoint: server.url + "/fake-idp/oauth2/token",
        client_id: "portal-test-client",
        redirect_uri: redirect,
        scopes: ["openid", "email"],
      },
      demo_sign_in: false,
    };
    await page.route(/\/config\.json$/, (route) => route.fulfill({ contentType: "application/json", body: JSON.stringify(cfg) }));
    const issued = new Map<string, { challenge: string; redirect: string }>();
    const exchanged: string[] = [];
    await page.route(/\/fake-idp\/oauth2\/authorize/, async (route) => {
      const q = new URL(route.request().url()).searchParams;
      assert.equal(q.get("response_type"), "code");
      assert.equal(q.get("client_id"), cfg.auth.client_id);
      assert.equal(q.get("redirect_uri"), redirect);
      assert.equal(q.get("code_challenge_method"), "S256");
      const code = `code-${issued.size + 1}`;
      issued.set(code, { challenge: q.get("code_challenge")!, redirect: q.get("redirect_uri")! });
      await route.fulfill({ status: 302, headers: { Location: `${redirect}?code=${code}&state=${encodeURIComponent(q.get("state")!)}` } });
    });
    await page.route(/\/fake-idp\/oauth2\/token$/, async (route) => {
      const form = new URLSearchParams(route.request().postData() ?? "");
      const grant = issued.get(form.get("code") ?? "");
      const challenge = createHash("sha256").update(form.get("code_verifier") ?? "").digest("base64url");
      if (!grant || form.get("grant_type") !== "authorization_code" || form.get("redirect_uri") !== grant.redirect || challenge !== grant.challenge) {
        await route.fulfill({ status: 400, contentType: "application/json", body: '{"error":"invalid_grant"}' });
        return;
      }
      issued.delete(form.get("code")!);
      exchanged.push(form.get("code")!);
      await route.fulfill({
        contentType: "application/json",
        body: JSON.stringify({ access_token: server.token("oauth-patient", "patient"), token_type: "Bearer", expires_in: 3600 }),
      });
    });

    await page.goto(server.url + "/");
    await page.getByRole("heading", { name: "Sign in to MedShare" }).waitFor();
    assert.equal(await page.getByLabel("Bearer token").count(), 0, "no token pasting in hosted-UI mode");
    await accessible(page, "hosted-UI sign-in");
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.getByRole("heading", { level: 1, name: "Your photos" }).waitFor();
    await page.getByText("oauth-patient").waitFor();
    assert.deepEqual(exchanged, ["code-1"]);
    assert.equal(new URL(page.url()).search, "", "the code and state leave the address bar");
    const storage = await page.evaluate(() => ({ local: localStorage.length, session: Object.keys(sessionStorage) }));
    assert.equal(storage.local, 0);
    assert.deepEqual(storage.session, ["medshare.session"], "only the session, and no pending verifier");

    // A redirect back that this tab did not ask for is refused.
    const other = await openPage("oauth-forged");
    await other.route(/\/config\.json$/, (route) => route.fulfill({ contentType: "application/json", body: JSON.stringify(cfg) }));
    await other.goto(`${server.url}/?code=code-x&state=forged`);
    await other.getByText(/state mismatch/).waitFor();
    assert.deepEqual(exchanged, ["code-1"], "nothing was exchanged");
  });

  step("no page broke its CSP or threw", () => {
    for (const [name, p] of problems) assert.deepEqual(p, [], `${name}`);
  });
});
