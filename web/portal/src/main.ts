// The portal's entry: reads /config.json, finishes a hosted-UI sign-in when
// the browser comes back from one, then shows the sign-in page or the views
// of the signed-in user's role. Routes are URL fragments (#/photos), so the
// server serves one page and never sees the route.

import { MedShareClient } from "@medshare/client";

import { REFRESH_MS, type App } from "./app.js";
import { chatAppointmentView, chatView } from "./chat.js";
import { alertBox, h, replace } from "./dom.js";
import { notesView } from "./notes.js";
import { historyView, photosView, sessionsView, shareView } from "./patient.js";
import { completeSignIn, isRedirectBack } from "./pkce.js";
import { grantedView, sessionViewer } from "./professional.js";
import { clearSession, loadSession, saveSession, sessionFromToken, type PortalConfig, type Session } from "./session.js";
import { signInView } from "./signin.js";

type Route = [pattern: RegExp, label: string | undefined, view: (app: App, ...args: string[]) => void];

const PATIENT: Route[] = [
  [/^#\/photos$/, "Photos", photosView],
  [/^#\/share$/, "Share", shareView],
  [/^#\/sessions$/, "Sessions", sessionsView],
  [/^#\/notifications$/, "Notifications", notesView],
  [/^#\/history$/, "Access history", historyView],
  [/^#\/chat$/, "Chat", chatView],
  [/^#\/chat\/(.+)$/, undefined, chatAppointmentView],
];
const PROFESSIONAL: Route[] = [
  [/^#\/sessions$/, "Sessions", grantedView],
  [/^#\/session\/(.+)$/, undefined, sessionViewer],
  [/^#\/notifications$/, "Notifications", notesView],
  [/^#\/chat$/, "Chat", chatView],
  [/^#\/chat\/(.+)$/, undefined, chatAppointmentView],
];
const CLINIC: Route[] = [[/^#\/notifications$/, "Notifications", notesView]];

const ROUTES: Record<Session["role"], Route[]> = { patient: PATIENT, professional: PROFESSIONAL, clinic: CLINIC };
const HOME: Record<Session["role"], string> = { patient: "#/photos", professional: "#/sessions", clinic: "#/notifications" };

function hrefOf(r: Route): string {
  return r[0].source.replace(/^\^/, "").replace(/\$$/, "").replace(/\\\//g, "/");
}

async function loadConfig(): Promise<PortalConfig> {
  const r = await fetch("/config.json", { credentials: "omit", cache: "no-store" });
  if (!r.ok) throw new Error(`the portal's configuration did not load (HTTP ${r.status})`);
  return (await r.json()) as PortalConfig;
}

/** The page's fixed parts: the header with the navigation, the main area, the live region. */
function shell(): { header: HTMLElement; main: HTMLElement } {
  const root = document.getElementById("app");
  if (!root) throw new Error("no #app element");
  const main = h("main", { id: "main", tabindex: "-1" });
  const header = h("header", { class: "top" });
  const skip = h("button", { type: "button", class: "skip" }, "Skip to content");
  skip.addEventListener("click", () => main.focus());
  replace(root, skip, header, main, h("div", { id: "status", role: "status", "aria-live": "polite", class: "visually-hidden" }));
  return { header, main };
}

function brand(): HTMLElement {
  return h("p", { class: "brand" }, h("span", { class: "logo", "aria-hidden": "true" }, "◆"), " MedShare");
}

async function boot(): Promise<void> {
  const { header, main } = shell();
  let config: PortalConfig;
  try {
    config = await loadConfig();
  } catch (e) {
    replace(header, brand());
    replace(main, h("h1", {}, "MedShare"), alertBox(e));
    return;
  }

  let reason: string | undefined;
  const url = new URL(window.location.href);
  if (config.auth.mode === "cognito" && isRedirectBack(url)) {
    try {
      const tokens = await completeSignIn(config.auth, url, sessionStorage);
      saveSession(sessionStorage, sessionFromToken(tokens.access_token));
    } catch (e) {
      reason = e instanceof Error ? e.message : String(e);
    }
    // The code and state leave the address bar and the history.
    window.history.replaceState(null, "", url.pathname);
  }

  const showSignIn = (why?: string): void => {
    replace(header, brand());
    document.title = "Sign in · MedShare";
    signInView(
      main,
      config,
      (s) => {
        saveSession(sessionStorage, s);
        start(s);
      },
      why,
    );
    main.querySelector<HTMLElement>("h1")?.focus();
  };

  const start = (session: Session): void => {
    let leave: (() => void)[] = [];
    const runLeave = (): void => {
      const fns = leave;
      leave = [];
      for (const f of fns) f();
    };
    let signedOut = false;
    const signOut = (why?: string): void => {
      if (signedOut) return;
      signedOut = true;
      runLeave();
      stopUnread();
      window.removeEventListener("hashchange", render);
      clearTimeout(expiry);
      app.urls.clear();
      clearSession(sessionStorage);
      if (window.location.hash) window.history.replaceState(null, "", window.location.pathname);
      if (config.auth.mode === "cognito" && config.auth.logout_endpoint && !why) {
        const u = new URL(config.auth.logout_endpoint);
        u.searchParams.set("client_id", config.auth.client_id);
        u.searchParams.set("logout_uri", config.auth.redirect_uri);
        window.location.assign(u.toString());
        return;
      }
      showSignIn(why);
    };
    // Any answer 401 means the token is no longer good: back to sign-in.
    const fetchFn: typeof fetch = async (input, init) => {
      const r = await fetch(input, init);
      if (r.status === 401) setTimeout(() => signOut("Your sign-in has ended: sign in again."));
      return r;
    };
    const client = new MedShareClient({ baseUrl: config.api_base_url ?? "", token: session.token, fetch: fetchFn });
    const app: App = {
      config,
      session,
      client,
      urls: client.signedUrlCache(),
      main,
      onLeave: (f) => leave.push(f),
      go: (route) => {
        if (window.location.hash === route) render();
        else window.location.hash = route;
      },
      signOut,
    };
    const expiry = setTimeout(
      () => signOut("Your sign-in has expired: sign in again."),
      Math.min(2 ** 31 - 1, Math.max(0, (session.expiresAt ?? Infinity) - Date.now())),
    );

    const routes = ROUTES[session.role];
    const out = h("button", { type: "button", class: "link" }, "Sign out");
    out.addEventListener("click", () => signOut());
    const links = routes
      .filter((r) => r[1] !== undefined)
      .map((r) => h("a", { href: hrefOf(r) }, r[1]!));
    replace(
      header,
      brand(),
      h("p", { class: "who" }, `${session.role === "patient" ? "Patient" : session.role === "professional" ? "Professional" : "Clinic"} portal · `, h("strong", {}, session.name), " ", out),
      h("nav", { "aria-label": "Sections" }, h("ul", {}, ...links.map((a) => h("li", {}, a)))),
    );

    function render(): void {
      runLeave();
      const hash = window.location.hash;
      for (const [pattern, label, view] of routes) {
        const m = pattern.exec(hash);
        if (!m) continue;
        for (const a of links) {
          if (a.getAttribute("href") === hash || (label === undefined && hash.startsWith(a.getAttribute("href") ?? "\0"))) {
            a.setAttribute("aria-current", "page");
          } else {
            a.removeAttribute("aria-current");
          }
        }
        view(app, ...m.slice(1).map((s) => decodeURIComponent(s)));
        const h1 = main.querySelector("h1");
        document.title = `${h1?.textContent ?? "MedShare"} · MedShare`;
        h1?.focus();
        return;
      }
      window.location.replace(HOME[session.role]);
    }
    window.addEventListener("hashchange", render);
    render();

    // The number of unread notifications, in the navigation, on every view.
    const notesLink = links.find((a) => a.getAttribute("href") === "#/notifications");
    let unreadTimer: ReturnType<typeof setTimeout> | undefined;
    const unread = (): void => {
      client
        .listNotifications({ limit: 50 })
        .then((p) => {
          if (signedOut || !notesLink) return;
          const n = p.items.filter((x) => !x.read).length;
          replace(notesLink, "Notifications", n > 0 ? h("span", { class: "count" }, ` ${n}${p.next_cursor && n === p.items.length ? "+" : ""} new`) : null);
        })
        .catch(() => undefined)
        .finally(() => {
          if (!signedOut) unreadTimer = setTimeout(unread, REFRESH_MS);
        });
    };
    stopUnread = () => clearTimeout(unreadTimer);
    unread();
  };
  let stopUnread = (): void => undefined;

  const existing = loadSession(sessionStorage);
  if (existing) start(existing);
  else showSignIn(reason);
}

void boot();
