// The professional portal: the sessions granted to them, and a viewer that
// opens a session on this device (its key made here, never leaving), shows
// each photo decrypted on a watermarked canvas, applies the screenshot
// policy, and wipes everything when the session ends.

import { isMedShareError, type Access, type ActivityResult, type GranteeActivity, type Share } from "@medshare/client";

import { REFRESH_MS, poll, pollList, type App } from "./app.js";
import { deviceFor } from "./device.js";
import { alertBox, announce, duration, errorText, h, replace, when } from "./dom.js";
import { showPhoto, type PhotoView } from "./viewer.js";
import { policyText, refusalText, shortDevice } from "./words.js";

/** `#/sessions` for a professional: the sessions granted to them. */
export function grantedView(app: App): void {
  const list = h("ul", { class: "sessions", "aria-live": "polite" });
  const err = h("div");
  replace(app.main, h("h1", { tabindex: "-1" }, "Sessions shared with you"), err, list);
  pollList(app, list, err, "No patient has shared photos with you yet.", async () => {
    const shares = (await app.client.listShares({ limit: 100 })).items;
    const now = Date.now();
    return shares.map((s) => {
      const left = s.status === "active" ? duration(Date.parse(s.expires_at) - now) : "—";
      return { key: s.share_id, sig: JSON.stringify([s, left]), render: () => grantedCard(s, left) };
    });
  });
}

function grantedCard(s: Share, left: string): HTMLElement {
  const usable = s.status === "active" && s.views_used < s.max_views;
  return h(
    "li",
    { class: "card session" },
    h("h2", {}, `From ${s.patient_id}`, " ", h("span", { class: `badge ${s.status}` }, s.status)),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Photos"),
      h("dd", {}, String(s.photos.length)),
      h("dt", {}, "Views left"),
      h("dd", {}, `${Math.max(0, s.max_views - s.views_used)} of ${s.max_views}`),
      h("dt", {}, "Time left"),
      h("dd", {}, left),
      h("dt", {}, "Screenshots"),
      h("dd", {}, policyText(s.screenshot_policy)),
      s.purpose ? h("dt", {}, "Purpose") : null,
      s.purpose ? h("dd", {}, s.purpose) : null,
    ),
    usable
      ? h("a", { class: "button", href: `#/session/${encodeURIComponent(s.share_id)}`, "data-focus": "open" }, "Open session")
      : null,
  );
}

/**
 * `#/session/<id>`: the viewer. Opening the session binds it to this
 * browser's device key; each "View" spends one view.
 */
export function sessionViewer(app: App, shareId: string): void {
  const info = h("div");
  const status = h("div", { class: "session-status", role: "status" });
  const photosList = h("ul", { class: "cards viewer-photos" });
  const stage = h("div", { class: "stage", "aria-live": "polite" });
  const openBtn = h("button", { type: "button" }, "Open on this device");
  const views = new Map<string, PhotoView>();
  let access: Access | undefined;
  let share: Share | undefined;
  let ended = false;
  let accessTimer: ReturnType<typeof setTimeout> | undefined;
  const stopWatch: (() => void)[] = [];

  const wipeAll = (): void => {
    views.forEach((v) => v.wipe());
    views.clear();
    replace(stage);
  };
  const end = (message: string): void => {
    if (ended) return;
    ended = true;
    wipeAll();
    replace(photosList);
    openBtn.hidden = true;
    stopWatch.forEach((f) => f());
    if (accessTimer !== undefined) clearTimeout(accessTimer);
    replace(status, h("p", { class: "alert", role: "alert" }, message));
    announce(message);
  };
  app.onLeave(() => {
    wipeAll();
    stopWatch.forEach((f) => f());
    if (accessTimer !== undefined) clearTimeout(accessTimer);
  });

  // A refusal that ends the session wipes the page; others are shown.
  const refused = (e: unknown): boolean => {
    if (isMedShareError(e, "views_exhausted")) {
      replace(status, h("p", { class: "warn", role: "alert" }, refusalText(e.code)!));
      return true;
    }
    if (isMedShareError(e, "session_revoked", "session_expired", "device_mismatch", "not_found")) {
      end(refusalText((e as { code: string }).code) ?? "This session is no longer available.");
      return true;
    }
    return false;
  };

  const showAnswer = (what: string, r: ActivityResult): void => {
    if (r.action === "revoked") {
      end(`Your ${what} was reported to the patient and the session is now revoked.`);
    } else if (r.action === "warned") {
      replace(status, h("p", { class: "warn", role: "alert" }, `Your ${what} was reported to the patient, who has been warned (score ${r.score}).`));
    }
  };

  const report = (type: GranteeActivity, what: string): void => {
    if (!access || ended) return;
    app.client
      .reportActivity(access.access_id, [{ type }])
      .then((r) => showAnswer(what, r))
      .catch((e: unknown) => {
        if (!refused(e)) replace(status, alertBox(e));
      });
  };

  const watch = (): void => {
    // Screenshot policy: PrintScreen (keydown or keyup: some systems send
    // only one), copy, and leaving the page (hidden or blurred, once per
    // absence) are reported; the server's answer is shown.
    let printDown = false;
    let away = false;
    const onKeyDown = (e: KeyboardEvent): void => {
      if (e.key === "PrintScreen") {
        printDown = true;
        report("screenshot", "screenshot");
      }
    };
    const onKeyUp = (e: KeyboardEvent): void => {
      if (e.key === "PrintScreen") {
        if (!printDown) report("screenshot", "screenshot");
        printDown = false;
      }
    };
    const onCopy = (e: ClipboardEvent): void => {
      e.preventDefault();
      report("copy_attempt", "copy attempt");
    };
    const onAway = (): void => {
      if (away) return;
      away = true;
      report("app_backgrounded", "leaving the page");
    };
    const onBack = (): void => {
      if (document.visibilityState === "visible" && document.hasFocus()) away = false;
    };
    const onVisibility = (): void => (document.visibilityState === "hidden" ? onAway() : onBack());
    // Each listener goes when the watch stops.
    const listen = <E extends Event>(target: EventTarget, type: string, fn: (e: E) => void): void => {
      const l = fn as EventListener;
      target.addEventListener(type, l);
      stopWatch.push(() => target.removeEventListener(type, l));
    };
    listen(document, "keydown", onKeyDown);
    listen(document, "keyup", onKeyUp);
    listen(document, "copy", onCopy);
    listen(document, "visibilitychange", onVisibility);
    listen(window, "blur", onAway);
    listen(window, "focus", onBack);
  };

  const viewPhoto = async (photoId: string, button: HTMLButtonElement): Promise<void> => {
    if (!access || ended) return;
    const a = access;
    const p = a.photos.find((x) => x.photo_id === photoId);
    button.disabled = true;
    replace(stage, h("p", { class: "loading" }, "Decrypting on this device…"));
    try {
      const device = await deviceFor(app.session.sub);
      const viewed = await app.client.viewPhoto(device, a, photoId);
      if (ended) {
        viewed.bytes.fill(0);
        return;
      }
      wipeAll();
      const stamp = new Date().toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
      const view = await showPhoto(viewed.bytes, {
        contentType: p?.content_type ?? "image/jpeg",
        label: `${p?.angle ?? "Shared"} photo, watermarked for ${app.session.sub}`,
        caption: `${p?.angle ?? "Photo"} · viewed ${stamp}`,
        watermark: [app.session.sub, stamp],
      });
      views.set(photoId, view);
      replace(stage, view.element);
      announce("Photo shown. One view was spent.");
      void refreshShare();
    } catch (e) {
      if (!refused(e)) replace(stage, alertBox(e));
    } finally {
      button.disabled = false;
    }
  };

  const renderPhotos = (a: Access): void => {
    replace(
      photosList,
      ...a.photos.map((p, i) => {
        const b = h("button", { type: "button" }, `View ${p.angle} photo ${i + 1}`);
        b.addEventListener("click", () => void viewPhoto(p.photo_id, b));
        return h("li", { class: "card" }, h("p", { class: "meta" }, `${p.angle} · ${p.content_type}`), b);
      }),
    );
  };

  const renderInfo = (s: Share): void => {
    replace(
      info,
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, "Patient"),
        h("dd", {}, s.patient_id),
        h("dt", {}, "Views"),
        h("dd", { class: "views" }, `${s.views_used} of ${s.max_views} used`),
        h("dt", {}, "Session ends"),
        h("dd", {}, when(s.expires_at)),
        h("dt", {}, "Screenshots"),
        h("dd", { class: "policy" }, policyText(s.screenshot_policy)),
        s.purpose ? h("dt", {}, "Purpose") : null,
        s.purpose ? h("dd", {}, s.purpose) : null,
      ),
    );
  };

  // The session is read again every few seconds: a revocation or expiry
  // shows as the next answer's status, and the page wipes itself.
  const refreshShare = async (): Promise<void> => {
    if (ended) return;
    try {
      share = await app.client.getShare(shareId);
    } catch (e) {
      if (!refused(e)) throw e;
      return;
    }
    renderInfo(share);
    if (share.status === "revoked") end(refusalText("session_revoked")!);
    else if (share.status === "expired") end(refusalText("session_expired")!);
  };

  openBtn.addEventListener("click", () => {
    openBtn.disabled = true;
    void (async () => {
      try {
        const device = await deviceFor(app.session.sub);
        const a = await app.client.openAccess(shareId, device);
        access = a;
        openBtn.hidden = true;
        renderPhotos(a);
        watch();
        const ms = Date.parse(a.expires_at) - Date.now();
        accessTimer = setTimeout(() => end("This device's access window has ended: open the session again to continue."), Math.max(0, ms));
        replace(
          status,
          h(
            "p",
            { class: "ok" },
            `Open on ${shortDevice(device.fingerprint)} until ${when(a.expires_at)}. The key of this device was made in this browser and cannot leave it.`,
          ),
        );
        announce("Session opened on this device.");
        photosList.querySelector("button")?.focus();
      } catch (e) {
        if (!refused(e)) replace(status, alertBox(e));
      } finally {
        openBtn.disabled = false;
      }
    })();
  });

  replace(
    app.main,
    h("h1", { tabindex: "-1" }, "Shared session"),
    h("p", {}, h("a", { href: "#/sessions" }, "← All sessions")),
    info,
    status,
    h("div", { class: "actions" }, openBtn),
    photosList,
    stage,
  );
  poll(app, REFRESH_MS, refreshShare, (e) => replace(status, h("p", { class: "alert" }, errorText(e))));
}
