// The patient portal: photos (upload encrypted, view decrypted, grouped by
// angle), sharing sessions (create, watch, revoke), and the audit trail.

import {
  ANGLES,
  decryptMetadata,
  fromBase64,
  type Angle,
  type AuditRecord,
  type Notification,
  type Photo,
  type PhotoContentType,
  type ScreenshotPolicy,
  type Share,
  type ShareRequest,
} from "@medshare/client";

import { pollList, type App } from "./app.js";
import { deviceFor } from "./device.js";
import { alertBox, announce, bytes, duration, errorText, field, h, replace, when, type Child } from "./dom.js";
import { showPhoto, type PhotoView } from "./viewer.js";
import { actionText, shortDevice } from "./words.js";

const PHOTO_TYPES: readonly PhotoContentType[] = ["image/jpeg", "image/png", "image/webp", "image/heic", "image/heif"];

/** Reads every photo of the patient (ready and pending). */
async function allPhotos(app: App): Promise<Photo[]> {
  const out: Photo[] = [];
  for await (const p of app.client.allPhotos()) out.push(p);
  return out;
}

function photoLabel(p: { angle: string; created_at?: string; photo_id: string }): string {
  return `${p.angle} photo${p.created_at ? ` of ${when(p.created_at)}` : ""}`;
}

// ---- photos ----

/** `#/photos`: upload a photo, and the photos grouped by angle, each shown decrypted on demand. */
export function photosView(app: App): void {
  const list = h("div", { class: "angles", "aria-live": "polite" }, h("p", {}, "Loading your photos…"));
  const shown = new Map<string, PhotoView>();
  app.onLeave(() => shown.forEach((v) => v.wipe()));

  const refresh = async (): Promise<void> => {
    const photos = (await allPhotos(app)).filter((p) => p.status === "ready");
    if (photos.length === 0) {
      replace(list, h("p", {}, "No photos yet. Upload one above: it is encrypted in this browser before it leaves."));
      return;
    }
    const groups: Child[] = [];
    for (const angle of ANGLES) {
      const of = photos.filter((p) => p.angle === angle);
      if (of.length === 0) continue;
      groups.push(
        h(
          "section",
          { class: "angle", "aria-labelledby": `angle-${angle}` },
          h("h3", { id: `angle-${angle}` }, `${angle} (${of.length})`),
          h("ul", { class: "cards" }, ...of.map((p) => photoCard(app, p, shown, refresh))),
        ),
      );
    }
    replace(list, ...groups);
  };

  replace(
    app.main,
    h("h1", { tabindex: "-1" }, "Your photos"),
    uploadForm(app, refresh),
    h("h2", {}, "By angle"),
    list,
  );
  refresh().catch((e: unknown) => replace(list, alertBox(e)));
}

function uploadForm(app: App, onDone: () => Promise<void>): HTMLElement {
  const file = h("input", { type: "file", accept: PHOTO_TYPES.join(","), required: true });
  const angle = h("select", { required: true }, ...ANGLES.map((a) => h("option", { value: a }, a)));
  const notes = h("input", { type: "text", maxlength: 500, autocomplete: "off" });
  const progress = h("progress", { max: 1, value: 0, "aria-label": "Upload progress" });
  const stage = h("span", { class: "stage" });
  const out = h("div", { class: "result" });
  const button = h("button", { type: "submit" }, "Encrypt and upload");
  const form = h(
    "form",
    { class: "card form", "aria-label": "Upload a photo" },
    h("h2", {}, "Upload a photo"),
    field("Photo", file, "JPEG, PNG, WebP, HEIC or HEIF. Encrypted here with a key made for this photo."),
    field("Angle", angle),
    field("Notes (optional, encrypted)", notes),
    h("div", { class: "progress-row" }, progress, stage),
    button,
    out,
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = file.files?.[0];
    if (!f) return;
    const type = f.type as PhotoContentType;
    if (!PHOTO_TYPES.includes(type)) {
      replace(out, alertBox(new Error(`${f.name}: a photo must be JPEG, PNG, WebP, HEIC or HEIF, not ${f.type || "unknown"}`)));
      return;
    }
    button.disabled = true;
    replace(out);
    const stages: Record<string, string> = {
      encrypting: "Encrypting in this browser…",
      staging: "Asking for an upload URL…",
      uploading: "Uploading the encrypted photo…",
      finalizing: "Checking the upload…",
      done: "Uploaded.",
    };
    void (async () => {
      try {
        const data = new Uint8Array(await f.arrayBuffer());
        const metadata: { file_name: string; notes?: string } = { file_name: f.name };
        if (notes.value.trim()) metadata.notes = notes.value.trim();
        const res = await app.client.uploadPhoto(data, {
          angle: angle.value as Angle,
          contentType: type,
          metadata,
          onProgress: (p) => {
            progress.value = p.total > 0 ? p.loaded / p.total : 0;
            stage.textContent = stages[p.stage] ?? p.stage;
          },
        });
        data.fill(0);
        progress.value = 1;
        replace(out, h("p", { class: "ok" }, `Uploaded ${f.name} as ${angle.value} (${res.photo_id}).`));
        announce(`Uploaded ${f.name}.`);
        form.reset();
        await onDone();
      } catch (e) {
        stage.textContent = "";
        replace(out, alertBox(e));
      } finally {
        button.disabled = false;
      }
    })();
  });
  return form;
}

function photoCard(app: App, p: Photo, shown: Map<string, PhotoView>, refresh: () => Promise<void>): HTMLElement {
  const area = h("div", { class: "photo-area" });
  const show = h("button", { type: "button", "aria-expanded": "false" }, "Show");
  const del = h("button", { type: "button", class: "danger" }, "Delete");
  const card = h(
    "li",
    { class: "card photo-card" },
    h("p", { class: "meta" }, `${when(p.created_at)} · ${bytes(p.size)} encrypted · ${p.content_type}`),
    h("div", { class: "actions" }, show, del),
    area,
  );
  show.addEventListener("click", () => {
    const open = shown.get(p.photo_id);
    if (open) {
      open.wipe();
      shown.delete(p.photo_id);
      replace(area);
      show.textContent = "Show";
      show.setAttribute("aria-expanded", "false");
      return;
    }
    show.disabled = true;
    replace(area, h("p", { class: "loading" }, "Decrypting in this browser…"));
    void (async () => {
      try {
        const device = await deviceFor(app.session.sub);
        const viewed = await app.client.viewOwnPhoto(device, p, app.session.sub);
        let caption = photoLabel(p);
        if (p.metadata) {
          try {
            const m = await decryptMetadata(fromBase64(p.metadata), viewed.dataKey);
            caption = [m.file_name, m.notes].filter(Boolean).join(" — ") || caption;
          } catch {
            caption += " (its notes could not be read)";
          }
        }
        const view = await showPhoto(viewed.bytes, { contentType: p.content_type, label: photoLabel(p), caption });
        shown.set(p.photo_id, view);
        replace(area, view.element);
        show.textContent = "Hide";
        show.setAttribute("aria-expanded", "true");
      } catch (e) {
        replace(area, alertBox(e));
      } finally {
        show.disabled = false;
      }
    })();
  });
  del.addEventListener("click", () => {
    del.disabled = true;
    app.client
      .deletePhoto(p.photo_id)
      .then(() => {
        shown.get(p.photo_id)?.wipe();
        shown.delete(p.photo_id);
        announce("Photo deleted.");
        return refresh();
      })
      .catch((e: unknown) => {
        del.disabled = false;
        replace(area, alertBox(e));
      });
  });
  return card;
}

// ---- sharing ----

const EXPIRIES: [number, string][] = [
  [3600, "1 hour"],
  [86400, "1 day"],
  [7 * 86400, "7 days"],
  [30 * 86400, "30 days"],
];
const WINDOWS: [number, string][] = [
  [300, "5 minutes"],
  [900, "15 minutes"],
  [3600, "1 hour"],
  [86400, "24 hours"],
];

function options(pairs: [number | string, string][], selected: number | string): HTMLOptionElement[] {
  return pairs.map(([v, label]) => h("option", { value: String(v), selected: v === selected }, label));
}

/** `#/share`: share photos (chosen one by one or by angle) with one professional. */
export function shareView(app: App): void {
  const pro = h("input", { type: "text", required: true, autocomplete: "off", spellcheck: "false" });
  const byPhotos = h("input", { type: "radio", name: "pick", value: "photos", checked: true });
  const byAngles = h("input", { type: "radio", name: "pick", value: "angles" });
  const photoBoxes = h("fieldset", { class: "choices" }, h("legend", {}, "Photos"), h("p", {}, "Loading…"));
  const angleBoxes = h("fieldset", { class: "choices", hidden: true }, h("legend", {}, "Angles"));
  const expires = h("select", {}, ...options(EXPIRIES, 86400));
  const maxViews = h("input", { type: "number", min: 1, max: 1000, value: 3, required: true });
  const window = h("select", {}, ...options(WINDOWS, 900));
  const devices = h("input", { type: "number", min: 1, max: 5, value: 1, required: true });
  const policy = h(
    "select",
    {},
    ...options(
      [
        ["warn", "Warn me (a screenshot is reported and scored)"],
        ["revoke", "Revoke at once on a screenshot"],
        ["allow", "Allow screenshots (still recorded)"],
      ],
      "warn",
    ),
  );
  const purpose = h("input", { type: "text", maxlength: 200, autocomplete: "off" });
  const out = h("div", { class: "result" });
  const submit = h("button", { type: "submit" }, "Create session");

  const toggle = (): void => {
    photoBoxes.hidden = !byPhotos.checked;
    angleBoxes.hidden = !byAngles.checked;
  };
  byPhotos.addEventListener("change", toggle);
  byAngles.addEventListener("change", toggle);

  const form = h(
    "form",
    { class: "card form", "aria-label": "Create a sharing session" },
    field("Professional's user id", pro, "The id of the one professional who may open this session."),
    h(
      "fieldset",
      { class: "choices inline" },
      h("legend", {}, "Share"),
      h("label", {}, byPhotos, " chosen photos"),
      h("label", {}, byAngles, " every photo of chosen angles"),
    ),
    photoBoxes,
    angleBoxes,
    field("Expires after", expires),
    field("Views allowed", maxViews, "Each look at one photo spends one view."),
    field("Each opening lasts", window, "The access window: how long one opening on a device lasts."),
    field("Devices allowed", devices, "The session binds to the first devices that open it."),
    field("Screenshots", policy),
    field("Purpose (optional)", purpose, "Stored as written: do not put health details here."),
    submit,
    out,
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const req: ShareRequest = {
      professional_id: pro.value.trim(),
      expires_in: Number(expires.value),
      max_views: Number(maxViews.value),
      access_window: Number(window.value),
      max_devices: Number(devices.value),
      screenshot_policy: policy.value as ScreenshotPolicy,
    };
    if (purpose.value.trim()) req.purpose = purpose.value.trim();
    const checked = (fs: HTMLElement): string[] =>
      Array.from(fs.querySelectorAll<HTMLInputElement>("input[type=checkbox]:checked")).map((i) => i.value);
    if (byPhotos.checked) req.photo_ids = checked(photoBoxes);
    else req.angles = checked(angleBoxes) as Angle[];
    if ((req.photo_ids ?? req.angles ?? []).length === 0) {
      replace(out, alertBox(new Error("Choose at least one photo or angle.")));
      return;
    }
    submit.disabled = true;
    app.client
      .createShare(req)
      .then((s) => {
        announce(`Session created for ${s.professional_id}.`);
        app.go("#/sessions");
      })
      .catch((e: unknown) => replace(out, alertBox(e)))
      .finally(() => {
        submit.disabled = false;
      });
  });

  replace(app.main, h("h1", { tabindex: "-1" }, "Share photos"), form);
  allPhotos(app)
    .then((all) => {
      const photos = all.filter((p) => p.status === "ready");
      replace(
        photoBoxes,
        h("legend", {}, "Photos"),
        ...(photos.length === 0
          ? [h("p", {}, "No photos yet: upload some first.")]
          : photos.map((p) => h("label", { class: "choice" }, h("input", { type: "checkbox", value: p.photo_id }), ` ${photoLabel(p)}`))),
      );
      const angles = ANGLES.filter((a) => photos.some((p) => p.angle === a));
      replace(
        angleBoxes,
        h("legend", {}, "Angles"),
        ...angles.map((a) => h("label", { class: "choice" }, h("input", { type: "checkbox", value: a }), ` ${a}`)),
      );
    })
    .catch((e: unknown) => replace(photoBoxes, h("legend", {}, "Photos"), alertBox(e)));
}

// ---- sessions ----

/** An access to a session as the audit trail and notifications tell it. */
interface AccessSeen {
  access_id: string;
  device: string;
  ip: string;
  userAgent: string;
  opened: string;
  views: number;
  /** The last score the server told the patient (notifications), if any. */
  score?: number;
}

/** The accesses of each session, from the records of the patient's audit trail that name the session. */
function accessesOf(records: AuditRecord[], notes: Notification[]): Map<string, AccessSeen[]> {
  const byShare = new Map<string, AccessSeen[]>();
  const byAccess = new Map<string, AccessSeen>();
  const chrono = [...records].sort((a, b) => a.seq - b.seq);
  for (const r of chrono) {
    if (r.action === "access.open" && r.outcome === "success" && r.share_id) {
      const a: AccessSeen = {
        access_id: r.resource_id,
        device: r.device ?? "",
        ip: r.source_ip,
        userAgent: r.user_agent,
        opened: r.at,
        views: 0,
      };
      byAccess.set(a.access_id, a);
      const list = byShare.get(r.share_id) ?? [];
      list.push(a);
      byShare.set(r.share_id, list);
    }
  }
  for (const r of chrono) {
    if (r.action !== "key.issue" || r.outcome !== "success" || !r.share_id) continue;
    const list = byShare.get(r.share_id) ?? [];
    const a = list.find((x) => x.device === r.device) ?? list[list.length - 1];
    if (a) a.views++;
  }
  for (const n of [...notes].reverse()) {
    const id = n.data?.["access_id"];
    const score = Number(n.data?.["score"]);
    const a = id ? byAccess.get(id) : undefined;
    if (a && n.type === "suspicious_activity" && Number.isFinite(score)) a.score = score;
  }
  return byShare;
}

function statusBadge(s: Share): HTMLElement {
  const exhausted = s.status === "active" && s.views_used >= s.max_views;
  const text = exhausted ? "no views left" : s.status;
  return h("span", { class: `badge ${exhausted ? "exhausted" : s.status}` }, text);
}

/** `#/sessions`: every session with its views, status, time left and accesses; revoke in one click. */
export function sessionsView(app: App): void {
  const list = h("ul", { class: "sessions", "aria-live": "polite" });
  const err = h("div");
  replace(
    app.main,
    h("h1", { tabindex: "-1" }, "Sharing sessions"),
    h("p", {}, h("a", { href: "#/share" }, "Share photos"), " with a professional."),
    err,
    list,
  );
  let photoAngles = new Map<string, Photo>();

  const refresh = pollList(app, list, err, "No sessions yet.", async () => {
    const shares: Share[] = (await app.client.listShares({ limit: 100 })).items;
    const oldest = shares.reduce((t, s) => Math.min(t, Date.parse(s.created_at)), Date.now());
    const records: AuditRecord[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 10; i++) {
      const page = await app.client.accessHistory({ limit: 100, cursor });
      records.push(...page.items);
      cursor = page.next_cursor;
      const last = page.items[page.items.length - 1];
      if (!cursor || !last || Date.parse(last.at) < oldest) break;
    }
    const notes = (await app.client.listNotifications({ limit: 100 })).items;
    if (photoAngles.size === 0) photoAngles = new Map((await allPhotos(app)).map((p) => [p.photo_id, p]));
    const accesses = accessesOf(records, notes);
    const now = Date.now();
    return shares.map((s) => {
      const acc = accesses.get(s.share_id) ?? [];
      const left = s.status === "active" ? duration(Date.parse(s.expires_at) - now) : "—";
      return {
        key: s.share_id,
        sig: JSON.stringify([s, acc, left]),
        render: () => sessionCard(app, s, acc, left, photoAngles, () => void refresh()),
      };
    });
  });
}

function sessionCard(
  app: App,
  s: Share,
  accesses: AccessSeen[],
  left: string,
  photos: Map<string, Photo>,
  refresh: () => void,
): HTMLElement {
  const headingId = `share-${s.share_id}`;
  const revoke = h(
    "button",
    { type: "button", class: "danger", "data-focus": "revoke", "aria-describedby": headingId },
    "Revoke",
  );
  revoke.addEventListener("click", () => {
    revoke.disabled = true;
    app.client
      .revokeShare(s.share_id)
      .then(() => {
        announce(`Session with ${s.professional_id} revoked.`);
        refresh();
      })
      .catch((e: unknown) => {
        revoke.disabled = false;
        announce(errorText(e));
      });
  });
  const angles = [...new Set(s.photos.map((p) => p.angle ?? photos.get(p.photo_id)?.angle))].join(", ");
  return h(
    "li",
    { class: "card session" },
    h("h2", { id: headingId }, `With ${s.professional_id}`, " ", statusBadge(s)),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Views"),
      h("dd", { class: "views" }, `${s.views_used} / ${s.max_views}`),
      h("dt", {}, "Time left"),
      h("dd", {}, left),
      h("dt", {}, "Photos"),
      h("dd", {}, `${s.photos.length} (${angles})`),
      h("dt", {}, "Screenshots"),
      h("dd", {}, s.screenshot_policy),
      h("dt", {}, "Devices"),
      h("dd", {}, `up to ${s.max_devices}, each opening ${duration(s.access_window * 1000)}`),
      s.purpose ? h("dt", {}, "Purpose") : null,
      s.purpose ? h("dd", {}, s.purpose) : null,
      h("dt", {}, "Created"),
      h("dd", {}, when(s.created_at)),
    ),
    s.status === "active" ? h("div", { class: "actions" }, revoke) : null,
    h("h3", {}, "Accesses"),
    accesses.length === 0
      ? h("p", { class: "muted" }, "Not opened yet.")
      : h(
          "table",
          {},
          h(
            "thead",
            {},
            h("tr", {}, h("th", { scope: "col" }, "Opened"), h("th", { scope: "col" }, "Device"), h("th", { scope: "col" }, "IP"), h("th", { scope: "col" }, "Views"), h("th", { scope: "col" }, "Score")),
          ),
          h(
            "tbody",
            {},
            ...accesses.map((a) =>
              h(
                "tr",
                {},
                h("td", {}, when(a.opened)),
                h("td", { title: a.userAgent }, shortDevice(a.device)),
                h("td", {}, a.ip),
                h("td", {}, String(a.views)),
                h("td", {}, a.score === undefined ? "under 50" : String(a.score)),
              ),
            ),
          ),
        ),
  );
}

// ---- history ----

/** `#/history`: the audit trail, naming the photo, the session and the device of each view; and its verification. */
export function historyView(app: App): void {
  const rows = h("tbody");
  const more = h("button", { type: "button", hidden: true }, "Show older");
  const verify = h("button", { type: "button" }, "Verify audit chain");
  const result = h("div", { class: "verify-result", role: "status" });
  const err = h("div");
  let cursor: string | undefined;
  let photos = new Map<string, Photo>();

  const load = async (): Promise<void> => {
    if (photos.size === 0) photos = new Map((await allPhotos(app)).map((p) => [p.photo_id, p]));
    const first = cursor === undefined;
    const page = await app.client.accessHistory({ limit: 50, cursor });
    cursor = page.next_cursor;
    more.hidden = !cursor;
    if (first && page.items.length === 0) replace(err, h("p", { class: "empty" }, "No records yet."));
    for (const r of page.items) rows.append(historyRow(r, photos));
  };
  more.addEventListener("click", () => void load().catch((e: unknown) => replace(err, alertBox(e))));
  verify.addEventListener("click", () => {
    verify.disabled = true;
    replace(result, "Verifying…");
    void (async () => {
      try {
        const server = await app.client.verifyAudit();
        const local = await app.client.verifyAuditLocally();
        replace(
          result,
          h(
            "p",
            { class: server.valid && local.valid ? "ok" : "alert" },
            server.valid
              ? `The server verified the chain: ${server.records} records intact, head #${server.head_seq}.`
              : `The server found the chain broken at record #${server.first_bad_seq ?? "?"}: ${server.problem ?? "unknown problem"}.`,
          ),
          h(
            "p",
            { class: local.valid ? "ok" : "alert" },
            local.valid
              ? `This browser recomputed ${local.checked} hashes and ${local.links} links: all match.`
              : `This browser found ${local.problems.length} problems, first at record #${local.problems[0]?.seq ?? "?"}.`,
          ),
          server.head_hash ? h("p", { class: "muted" }, `Head hash ${server.head_hash} — keep it to detect a rewritten chain later.`) : null,
        );
      } catch (e) {
        replace(result, alertBox(e));
      } finally {
        verify.disabled = false;
      }
    })();
  });

  replace(
    app.main,
    h("h1", { tabindex: "-1" }, "Access history"),
    h("p", {}, "Every view of your photos, every session and every refusal, newest first. Each record is chained to the one before by its hash."),
    h("div", { class: "actions" }, verify),
    result,
    err,
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "history" },
        h("caption", { class: "visually-hidden" }, "Audit records, newest first"),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ...["#", "When", "What", "Photo", "By", "From IP", "Device", "Outcome"].map((c) => h("th", { scope: "col" }, c)),
          ),
        ),
        rows,
      ),
    ),
    more,
  );
  load().catch((e: unknown) => replace(err, alertBox(e)));
}

function historyRow(r: AuditRecord, photos: Map<string, Photo>): HTMLElement {
  const photoId = r.photo_id || (r.resource_type === "photo" ? r.resource_id : "");
  const photo = photoId ? photos.get(photoId) : undefined;
  const photoText = photoId ? (photo ? `${photo.angle}, ${when(photo.created_at)}` : `${photoId} (deleted)`) : "—";
  return h(
    "tr",
    { class: r.outcome === "success" ? "" : "denied" },
    h("td", {}, String(r.seq)),
    h("td", {}, when(r.at)),
    h(
      "td",
      {},
      actionText(r),
      r.action === "activity.report" && r.reason ? h("small", { class: "block" }, `events: ${r.reason}`) : null,
      r.share_id ? h("small", { class: "block muted" }, `session ${r.share_id}`) : null,
    ),
    h("td", {}, photoText),
    h("td", {}, `${r.actor_id} (${r.actor_role})`),
    h("td", {}, r.source_ip || "—"),
    h("td", { title: r.user_agent }, r.device ? shortDevice(r.device) : "—"),
    h("td", {}, r.outcome === "success" ? "ok" : `${r.outcome}${r.reason ? `: ${r.reason}` : ""}`),
  );
}
