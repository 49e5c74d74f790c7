// A few DOM helpers. Every element is made with createElement and every text
// goes in as a text node: the portal never assigns HTML strings, so nothing a
// server or another user wrote can become markup (and the page works under a
// CSP with Trusted Types required).

/** A child of {@link h}: a node, text, or nothing (skipped). */
export type Child = Node | string | number | false | null | undefined;

/** Attributes and handlers of {@link h}. Keys starting with "on" are event listeners. */
export type Props = Record<string, string | number | boolean | EventListener | undefined>;

/**
 * Makes an element: `h("button", { type: "button", onclick: f }, "Revoke")`.
 * Boolean attributes are set when true and left out when false; undefined
 * values are skipped.
 */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2), v);
    } else if (v === true) {
      el.setAttribute(k, "");
    } else {
      el.setAttribute(k, String(v));
    }
  }
  append(el, ...children);
  return el;
}

/** Appends children to a parent, skipping empty ones. */
export function append(parent: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    parent.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
}

/** Replaces every child of parent. */
export function replace(parent: Node, ...children: Child[]): void {
  while (parent.firstChild) parent.removeChild(parent.firstChild);
  append(parent, ...children);
}

let uid = 0;
/** A fresh id for label/aria wiring. */
export function newId(prefix: string): string {
  return `${prefix}-${++uid}`;
}

/** A labelled form field: a label and the control, wired by id. */
export function field(label: string, control: HTMLElement, hint?: string): HTMLElement {
  const id = control.id || newId("f");
  control.id = id;
  const parts: Child[] = [h("label", { for: id }, label), control];
  if (hint) {
    const hid = newId("hint");
    control.setAttribute("aria-describedby", hid);
    parts.push(h("small", { id: hid, class: "hint" }, hint));
  }
  return h("div", { class: "field" }, ...parts);
}

/** A duration in words, e.g. "2 h 5 min", "45 s", for time left. */
export function duration(ms: number): string {
  if (ms <= 0) return "none";
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  const hr = Math.floor((s % 86400) / 3600);
  const min = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d} d ${hr} h`;
  if (hr > 0) return `${hr} h ${min} min`;
  if (min > 0) return `${min} min ${s % 60} s`;
  return `${s} s`;
}

/** A time for people: the local date and time, to the second. */
export function when(iso: string): string {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return iso;
  return t.toLocaleString(undefined, {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
}

/** A byte count for people. */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** The page's polite live region: what it says, a screen reader reads. */
export function announce(message: string): void {
  const region = document.getElementById("status");
  if (region) replace(region, message);
}

/** An error's message for people, with the server's code and request id when there are some. */
export function errorText(e: unknown): string {
  if (e && typeof e === "object" && "code" in e && "message" in e) {
    const err = e as { code: string; message: string; requestId?: string };
    return `${err.message} (${err.code}${err.requestId ? `, request ${err.requestId}` : ""})`;
  }
  return e instanceof Error ? e.message : String(e);
}

/** An alert box (role="alert") for a failed action. */
export function alertBox(e: unknown): HTMLElement {
  return h("p", { class: "alert", role: "alert" }, errorText(e));
}

/** One entry of a {@link patch}ed list. */
export interface Keyed {
  /** Stable identity of the entry. */
  key: string;
  /** Changes whenever what the entry shows changes. */
  sig: string;
  render: () => HTMLElement;
}

/**
 * Brings a container's children in line with entries, rebuilding only the
 * entries whose signature changed, so a list read again every few seconds
 * neither flickers nor steals the keyboard focus: when the focused element
 * was in a rebuilt entry, the element with the same `data-focus` in the new
 * one gets the focus back.
 */
export function patch(container: HTMLElement, entries: Keyed[]): void {
  const old = new Map<string, HTMLElement>();
  for (const c of Array.from(container.children)) {
    if (c instanceof HTMLElement && c.dataset["key"] !== undefined) old.set(c.dataset["key"], c);
  }
  const active = document.activeElement;
  let refocus: { key: string; focus: string } | undefined;
  const next: HTMLElement[] = [];
  for (const e of entries) {
    const prev = old.get(e.key);
    if (prev && prev.dataset["sig"] === e.sig) {
      next.push(prev);
      old.delete(e.key);
      continue;
    }
    if (prev && active instanceof HTMLElement && prev.contains(active) && active.dataset["focus"]) {
      refocus = { key: e.key, focus: active.dataset["focus"] };
    }
    const el = e.render();
    el.dataset["key"] = e.key;
    el.dataset["sig"] = e.sig;
    next.push(el);
  }
  for (const c of Array.from(container.children)) {
    if (!next.includes(c as HTMLElement)) c.remove();
  }
  next.forEach((el, i) => {
    if (container.children[i] !== el) container.insertBefore(el, container.children[i] ?? null);
  });
  if (refocus) {
    const el = next.find((n) => n.dataset["key"] === refocus.key);
    el?.querySelector<HTMLElement>(`[data-focus="${CSS.escape(refocus.focus)}"]`)?.focus();
  }
}
