// The chat of an appointment, for its participants: send an image (shown at
// once from the local file, then marked sent) and see the appointment's
// images, each `private://chat-images/<id>` resolved through the signed-URL
// cache: one request per image per URL lifetime (less the margin), a new URL
// when the cached one is due or fails to load.

import type { ChatContentType, ListedChatImage } from "@medshare/client";

import { REFRESH_MS, poll, type App } from "./app.js";
import { alertBox, announce, errorText, field, h, replace, when } from "./dom.js";
import { showPhoto } from "./viewer.js";

const CHAT_TYPES: readonly ChatContentType[] = ["image/jpeg", "image/png", "image/webp", "image/gif", "image/heic", "image/heif"];
/** Where the last appointment chosen in this tab is kept (an id, not a secret). */
export const APPOINTMENT_KEY = "medshare.chat.appointment";

/** One image on screen. */
interface Entry {
  element: HTMLElement;
  /** Resolves the image's URL again (cached until due) and updates the <img> when it changed. */
  refresh(): Promise<void>;
}

/** `#/chat`: choose an appointment, then its images and a form to send one. */
export function chatView(app: App): void {
  const apptInput = h("input", {
    type: "text",
    required: true,
    autocomplete: "off",
    spellcheck: "false",
    value: sessionStorage.getItem(APPOINTMENT_KEY) ?? "",
  });
  const pick = h(
    "form",
    { class: "card form inline-form", "aria-label": "Choose an appointment" },
    field("Appointment id", apptInput),
    h("button", { type: "submit" }, "Show chat"),
  );
  const body = h("div");
  pick.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const id = apptInput.value.trim();
    if (!id) return;
    sessionStorage.setItem(APPOINTMENT_KEY, id);
    app.go(`#/chat/${encodeURIComponent(id)}`);
  });
  replace(app.main, h("h1", { tabindex: "-1" }, "Chat images"), pick, body);
}

/** `#/chat/<appointment>`: the images of one appointment. */
export function chatAppointmentView(app: App, appointmentId: string): void {
  sessionStorage.setItem(APPOINTMENT_KEY, appointmentId);
  const list = h("ul", { class: "chat", "aria-label": "Images, newest first" });
  const err = h("div");
  const entries = new Map<string, Entry>();
  const local = new Map<string, HTMLElement>(); // images sent from this page: shown from the local file

  const file = h("input", { type: "file", accept: CHAT_TYPES.join(","), required: true });
  const send = h("button", { type: "submit" }, "Send image");
  const form = h(
    "form",
    { class: "card form inline-form", "aria-label": "Send an image" },
    field("Image", file),
    send,
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = file.files?.[0];
    if (!f) return;
    if (!CHAT_TYPES.includes(f.type as ChatContentType)) {
      replace(err, alertBox(new Error(`${f.name}: an image must be JPEG, PNG, WebP, GIF, HEIC or HEIF`)));
      return;
    }
    form.reset();
    void sendImage(f);
  });

  const sendImage = async (f: File): Promise<void> => {
    const state = h("p", { class: "state sending" }, "Sending…");
    const item = h("li", { class: "card chat-item mine", "aria-busy": "true" }, state);
    list.prepend(item);
    try {
      const data = new Uint8Array(await f.arrayBuffer());
      // The preview is drawn from the local bytes at once (a copy: showPhoto zeroes what it is given).
      showPhoto(data.slice(), { contentType: f.type, label: `Image you sent: ${f.name}` })
        .then((v) => item.prepend(v.element))
        .catch(() => item.prepend(h("p", {}, f.name)));
      const img = await app.client.uploadChatImage(appointmentId, data, f.type as ChatContentType);
      item.dataset["imageId"] = img.image_id;
      local.set(img.image_id, item);
      replace(state, `Sent ${when(new Date().toISOString())}`);
      state.className = "state sent";
      item.removeAttribute("aria-busy");
      announce("Image sent.");
    } catch (e) {
      replace(state, `Not sent: ${errorText(e)}`);
      state.className = "state alert";
      item.removeAttribute("aria-busy");
    }
  };

  replace(
    app.main,
    h("h1", { tabindex: "-1" }, `Chat images of ${appointmentId}`),
    h("p", {}, h("a", { href: "#/chat" }, "Another appointment")),
    form,
    err,
    list,
  );

  poll(
    app,
    REFRESH_MS,
    async () => {
      const images = (await app.client.listChatImages(appointmentId, { limit: 50 })).items;
      replace(err);
      for (const img of [...images].reverse()) {
        if (entries.has(img.image_id)) continue;
        const mine = local.get(img.image_id);
        if (mine) {
          entries.set(img.image_id, { element: mine, refresh: async () => undefined });
          continue;
        }
        const e = chatEntry(app, img);
        entries.set(img.image_id, e);
        list.prepend(e.element);
      }
      await Promise.all([...entries.values()].map((e) => e.refresh()));
    },
    (e) => replace(err, alertBox(e)),
  );
}

function chatEntry(app: App, img: ListedChatImage): Entry {
  const label = `Image from ${img.uploader_id}, ${when(img.created_at)}`;
  const picture = h("img", { alt: label, hidden: true, decoding: "async", referrerpolicy: "no-referrer" });
  const state = h("p", { class: "state loading" }, "Loading image…");
  const element = h(
    "li",
    { class: "card chat-item", "aria-busy": "true" },
    picture,
    state,
    h("p", { class: "meta" }, `${img.uploader_id} · ${when(img.created_at)}`),
  );
  let current = "";
  let retried = false;

  const set = async (): Promise<void> => {
    const url = await app.urls.resolve(img.url);
    if (url !== current) {
      current = url;
      picture.src = url;
    }
  };
  picture.addEventListener("load", () => {
    retried = false;
    picture.hidden = false;
    state.remove();
    element.removeAttribute("aria-busy");
  });
  picture.addEventListener("error", () => {
    // An expired or refused URL: dropped from the cache, and fetched anew once.
    app.urls.reportFailure(current, 0);
    if (retried) {
      picture.hidden = true;
      replace(state, "This image could not be loaded.");
      state.className = "state alert";
      if (!state.isConnected) element.prepend(state);
      return;
    }
    retried = true;
    set().catch(() => undefined);
  });
  return {
    element,
    refresh: () =>
      set().catch((e: unknown) => {
        replace(state, `This image could not be loaded: ${errorText(e)}`);
        state.className = "state alert";
        if (!state.isConnected) element.prepend(state);
      }),
  };
}
