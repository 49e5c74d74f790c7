// What every view gets: the signed-in user, a client for them, and a way to
// register what must stop when the view goes (timers, listeners, images).

import type { MedShareClient, SignedUrlCache } from "@medshare/client";

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

/** How often lists that change under the user (notifications, sessions, chat) are read again. */
export const REFRESH_MS = 4000;
