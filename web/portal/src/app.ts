// What every view gets: the signed-in user, a client for them, and a way to
// register what must stop when the view goes (timers, listeners, images).

import type { MedShareClient, SignedUrlCache } from "@medshare/client";

import { alertBox, h, patch, replace, type Keyed } from "./dom.js";
import type { PortalConfig, Session } from "./session.js";

/** The signed-in page: the user, their client, and the current view's lifetime. */
export interface App {
  readonly config: PortalConfig;
  readonly session: Session;
  readonly client: MedShareClient;
  /** Chat images' signed URLs, for this user; cleared at sign-out. */
  readonly urls: SignedUrlCache;
  /** The element the current view renders into. */
  readonly main: HTMLElement;
  /** Runs fn when the current view is left (or the user signs out). */
  onLeave(fn: () => void): void;
  /** Navigates to a route (`#/…`). */
  go(route: string): void;
  /** Signs out, with a reason shown on the sign-in page. */
  signOut(reason?: string): void;
}

/**
 * Calls fn now and then every intervalMs while the view lives, never two at
 * once: a slow answer delays the next call instead of stacking requests.
 * Errors go to onError (the next tick tries again).
 */
export function poll(app: App, intervalMs: number, fn: () => Promise<void>, onError: (e: unknown) => void): () => Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  let running: Promise<void> | undefined;
  const tick = async (): Promise<void> => {
    if (stopped) return;
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (!running) {
      running = fn()
        .catch(onError)
        .finally(() => {
          running = undefined;
        });
    }
    await running;
    if (!stopped && timer === undefined) timer = setTimeout(() => void tick(), intervalMs);
  };
  app.onLeave(() => {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
  });
  void tick();
  return tick;
}

/**
 * Polls a list view every REFRESH_MS: read returns the list's entries
 * (patched in by key, so focus and open details survive), or none, and
 * then the list shows empty. A failure shows in err until a read succeeds.
 * Returns what reads the list again at once.
 */
export function pollList(app: App, list: HTMLElement, err: HTMLElement, empty: string, read: () => Promise<Keyed[]>): () => Promise<void> {
  return poll(
    app,
    REFRESH_MS,
    async () => {
      const entries = await read();
      replace(err);
      if (entries.length === 0) {
        replace(list, h("li", { class: "empty" }, empty));
        return;
      }
      patch(list, entries);
    },
    (e) => replace(err, alertBox(e)),
  );
}

/** How often lists that change under the user (notifications, sessions, chat) are read again. */
export const REFRESH_MS = 4000;
