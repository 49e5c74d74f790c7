// Notifications, for every role: read again every few seconds, so a new one
// shows without a reload; unread ones can be marked read.

import type { Notification } from "@medshare/client";

import { pollList, type App } from "./app.js";
import { alertBox, announce, h, replace, when } from "./dom.js";
import { noteText, shortDevice } from "./words.js";

/** `#/notifications`. */
export function notesView(app: App): void {
  const list = h("ul", { class: "notes", "aria-live": "polite", "aria-relevant": "additions" });
  const err = h("div");
  replace(app.main, h("h1", { tabindex: "-1" }, "Notifications"), err, list);
  const refresh = pollList(app, list, err, "Nothing yet.", async () => {
    const notes = (await app.client.listNotifications({ limit: 50 })).items;
    return notes.map((n) => ({ key: n.notification_id, sig: String(n.read), render: () => noteItem(app, n, () => void refresh()) }));
  });
}

function details(n: Notification): string {
  const d = n.data ?? {};
  const parts: string[] = [];
  if (d["professional_id"]) parts.push(`professional ${d["professional_id"]}`);
  if (d["patient_id"]) parts.push(`patient ${d["patient_id"]}`);
  if (d["photo_id"]) parts.push(`photo ${d["photo_id"]}`);
  if (d["device"]) parts.push(shortDevice(d["device"]));
  if (d["score"]) parts.push(`score ${d["score"]}`);
  if (d["events"]) parts.push(`events: ${d["events"]}`);
  if (d["reason"]) parts.push(`reason: ${d["reason"]}`);
  if (n.share_id) parts.push(`session ${n.share_id}`);
  return parts.join(" · ");
}

function noteItem(app: App, n: Notification, refresh: () => void): HTMLElement {
  const mark = h("button", { type: "button", "data-focus": "read" }, "Mark read");
  mark.addEventListener("click", () => {
    mark.disabled = true;
    app.client
      .markNotificationRead(n.notification_id)
      .then(() => {
        announce("Marked read.");
        refresh();
      })
      .catch((e: unknown) => {
        mark.disabled = false;
        mark.after(alertBox(e));
      });
  });
  return h(
    "li",
    { class: `card note ${n.read ? "read" : "unread"}` },
    h("p", { class: "note-title" }, n.read ? null : h("span", { class: "badge unread" }, "new"), " ", noteText(n)),
    h("p", { class: "meta" }, when(n.created_at)),
    details(n) ? h("p", { class: "meta" }, details(n)) : null,
    n.read ? null : mark,
  );
}
