// The sign-in page: a demo identity (only when the server offers them), a
// pasted token (local servers), or the hosted UI with PKCE (AWS).

import { APPOINTMENT_KEY } from "./chat.js";
import { alertBox, field, h, replace } from "./dom.js";
import { beginSignIn } from "./pkce.js";
import { sessionFromToken, type DemoIdentities, type PortalConfig, type Session } from "./session.js";

const ROLE_TEXT: Record<string, string> = {
  patient: "Patient portal",
  professional: "Professional portal",
  clinic: "Clinic",
};

/**
 * Renders the sign-in page into main. signIn is called with a session the
 * user chose; reason, when given, says why they are here (signed out, token
 * expired).
 */
export function signInView(main: HTMLElement, config: PortalConfig, signIn: (s: Session) => void, reason?: string): void {
  const parts: (HTMLElement | null)[] = [
    h("h1", { tabindex: "-1" }, "Sign in to MedShare"),
    h(
      "p",
      { class: "lead" },
      "Photos are encrypted in your browser before they leave it, and decrypted only in the browser of the person you share them with.",
    ),
    reason ? h("p", { class: "warn", role: "alert" }, reason) : null,
  ];

  if (config.auth.mode === "cognito") {
    const auth = config.auth;
    const go = h("button", { type: "button", class: "primary" }, "Sign in");
    const out = h("div");
    go.addEventListener("click", () => {
      go.disabled = true;
      beginSignIn(auth, sessionStorage)
        .then((url) => window.location.assign(url))
        .catch((e: unknown) => {
          go.disabled = false;
          replace(out, alertBox(e));
        });
    });
    parts.push(h("section", { class: "card", "aria-labelledby": "idp" }, h("h2", { id: "idp" }, "With your MedShare account"), go, out));
  }

  if (config.demo_sign_in) {
    const list = h("div", { class: "demo-list" }, h("p", {}, "Loading demo identities…"));
    parts.push(
      h(
        "section",
        { class: "card", "aria-labelledby": "demo" },
        h("h2", { id: "demo" }, "Try it with a demo identity"),
        h("p", { class: "muted" }, "This server runs with --demo on this machine: pick who to be."),
        list,
      ),
    );
    fetch("/demo/identities", { credentials: "omit", cache: "no-store" })
      .then(async (r) => {
        if (!r.ok) throw new Error(`demo identities: HTTP ${r.status}`);
        const demo = (await r.json()) as DemoIdentities;
        replace(
          list,
          ...demo.identities.map((id) => {
            const b = h("button", { type: "button" }, `${ROLE_TEXT[id.role] ?? id.role}: ${id.id}`);
            b.addEventListener("click", () => {
              try {
                if (demo.appointment_id) sessionStorage.setItem(APPOINTMENT_KEY, demo.appointment_id);
                signIn(sessionFromToken(id.token));
              } catch (e) {
                replace(list, alertBox(e));
              }
            });
            return b;
          }),
        );
      })
      .catch((e: unknown) => replace(list, alertBox(e)));
  }

  if (config.auth.mode === "cognito") {
    replace(main, ...parts);
    return;
  }
  const token = h("textarea", { rows: 4, required: true, spellcheck: "false", autocomplete: "off" });
  const out = h("div");
  const form = h(
    "form",
    { class: "card form", "aria-labelledby": "paste" },
    h("h2", { id: "paste" }, "With a token"),
    field("Bearer token", token, "From `medshare token --sub YOU --role patient` (or professional). Kept for this tab only."),
    h("button", { type: "submit" }, "Sign in with this token"),
    out,
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    try {
      signIn(sessionFromToken(token.value));
    } catch (e) {
      replace(out, alertBox(e));
    }
  });
  parts.push(form);
  replace(main, ...parts);
}
