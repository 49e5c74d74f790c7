// The private:// resolver: signed URLs of chat images, fetched once per
// lifetime and shared by concurrent callers.

import type { ChatResolution, ChatSignedUrl } from "./types.js";

/** The scheme and host of a chat image's app URL: `private://chat-images/<image_id>`. */
export const PRIVATE_CHAT_PREFIX = "private://chat-images/";

const IMAGE_ID = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * The image id of a `private://chat-images/<id>` URL, or undefined for any
 * other URL. Throws a TypeError for a `private:` URL that names no chat image.
 */
export function chatImageId(url: string): string | undefined {
  if (!/^private:/i.test(url)) return undefined;
  if (url.slice(0, PRIVATE_CHAT_PREFIX.length).toLowerCase() !== PRIVATE_CHAT_PREFIX) {
    throw new TypeError("a private:// URL must be private://chat-images/<image_id>");
  }
  const id = url.slice(PRIVATE_CHAT_PREFIX.length);
  if (!IMAGE_ID.test(id)) throw new TypeError("a private://chat-images/ URL must end in an image id");
  return id;
}

/** Where the cache gets a fresh signed URL for an image id. */
export type SignedUrlSource = (imageId: string) => Promise<ChatSignedUrl>;

/** Where the cache resolves an old chat image URL (`POST /api/chat-images/resolve`). */
export type LegacyResolveSource = (url: string) => Promise<ChatResolution>;

/** Options of a {@link SignedUrlCache}. */
export interface SignedUrlCacheOptions {
  /**
   * How long before a URL's expiry it is replaced, in milliseconds (default
   * 5 minutes: a 60-minute URL is used for 55). It is capped at half the URL's
   * lifetime, so a short-lived URL is still used for half its life.
   */
  margin?: number;
  /** The clock, in milliseconds since the epoch (default Date.now); tests inject one. */
  now?: () => number;
  /** At most this many URLs are kept; the least recently used go first (default 1000). */
  maxEntries?: number;
  /**
   * The hosts of the legacy chat's public bucket (e.g.
   * `old-chat.nyc3.digitaloceanspaces.com`): an `https:` URL of one of them,
   * which an old message holds, is resolved with {@link legacySource}
   * instead of being passed through.
   */
  legacyHosts?: string[];
  /** Resolves an old URL ({@link MedShareClient.resolveChatImage}); required with legacyHosts. */
  legacySource?: LegacyResolveSource;
}

interface Entry {
  url: string;
  refreshAt: number;
}

interface Flight {
  promise: Promise<string>;
}

/** The cache key of an old URL starts with this (an image id holds no ":"). */
const LEGACY_KEY = "legacy:";

/** The default margin: 5 minutes. */
export const DEFAULT_URL_MARGIN_MS = 5 * 60 * 1000;

/**
 * Resolves `private://chat-images/{id}` URLs to signed URLs, and passes every
 * other URL (`https:`, `http:`, `blob:`, `file:`, `data:`, …) through unchanged.
 *
 * - One request per image per URL lifetime minus the margin. The lifetime is
 *   derived from the answer's `expires_at`, measured against the server's
 *   `Date` when readable (so a wrong device clock does not matter), and
 *   counted on the injected clock.
 * - Concurrent resolutions of one id share one request.
 * - A URL past its time is fetched again; so is one the app reports as
 *   failed ({@link reportFailure}) or drops ({@link invalidate}).
 *
 * Use one cache per signed-in user, and {@link clear} it at sign-out.
 */
export class SignedUrlCache {
  private readonly source: SignedUrlSource;
  private readonly margin: number;
  private readonly now: () => number;
  private readonly maxEntries: number;
  private readonly entries = new Map<string, Entry>();
  private readonly flights = new Map<string, Flight>();
  private epoch = 0;
  private readonly legacySource: LegacyResolveSource | undefined;
  private readonly legacyHosts: Set<string>;
  /** Old URLs' keys to their migrated images' ids: an image id never changes. */
  private readonly migrated = new Map<string, string>();

  constructor(source: SignedUrlSource, opts: SignedUrlCacheOptions = {}) {
    this.source = source;
    this.legacySource = opts.legacySource;
    this.legacyHosts = new Set(opts.legacySource ? (opts.legacyHosts ?? []).map((h) => h.toLowerCase()) : []);
    this.margin = opts.margin ?? DEFAULT_URL_MARGIN_MS;
    this.now = opts.now ?? Date.now;
    this.maxEntries = opts.maxEntries ?? 1000;
    if (!(this.margin >= 0) || !(this.maxEntries >= 1)) throw new RangeError("margin must be >= 0 and maxEntries >= 1");
  }

  /**
   * The URL to load for url: a signed URL for `private://chat-images/{id}`;
   * for an `https:` URL of a legacy host, the signed URL of its migrated
   * image or, not yet migrated, the old URL itself while the server allows
   * it (a URL the server does not know to the caller rejects with its 404
   * {@link MedShareError}); url itself for anything else.
   */
  async resolve(url: string): Promise<string> {
    const id = chatImageId(url);
    if (id !== undefined) return this.resolveImage(id);
    const key = this.legacyKey(url);
    if (key === undefined) return url;
    const migrated = this.migrated.get(key);
    if (migrated !== undefined) return this.resolveImage(migrated);
    return this.resolveKey(key, () => this.fetchLegacy(key, url));
  }

  /** A signed URL for a chat image id, from the cache when it is still good. */
  resolveImage(imageId: string): Promise<string> {
    return this.resolveKey(imageId, async () => ({ signed: await this.source(imageId), storeAs: imageId }));
  }

  /**
   * The cache key of an `https:` URL of a legacy host: its host in lower
   * case and its path, without query or fragment (the server normalizes the
   * same way); undefined for any other URL.
   */
  private legacyKey(url: string): string | undefined {
    if (this.legacyHosts.size === 0 || !/^https:/i.test(url)) return undefined;
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return undefined;
    }
    if (!this.legacyHosts.has(u.hostname.toLowerCase())) return undefined;
    return LEGACY_KEY + u.host.toLowerCase() + u.pathname;
  }

  /** Resolves an old URL: a migrated image's signed URL (in the same flight), or the old URL for a while. */
  private async fetchLegacy(key: string, url: string): Promise<{ signed: ChatSignedUrl; storeAs: string }> {
    const r = await this.legacySource!(url);
    if (r.status === "migrated" && r.image_id !== undefined && IMAGE_ID.test(r.image_id)) {
      this.migrated.set(key, r.image_id);
      return { signed: await this.source(r.image_id), storeAs: r.image_id };
    }
    if (r.status === "legacy" && r.url && r.expires_at) {
      const signed: ChatSignedUrl = { url: r.url, expires_at: r.expires_at };
      if (r.server_date !== undefined) signed.server_date = r.server_date;
      return { signed, storeAs: key };
    }
    throw new TypeError(`resolve chat image: unexpected answer ${JSON.stringify(r.status)}`);
  }

  private resolveKey(imageId: string, fetch: () => Promise<{ signed: ChatSignedUrl; storeAs: string }>): Promise<string> {
    const e = this.entries.get(imageId);
    if (e && this.now() < e.refreshAt) {
      this.entries.delete(imageId); // most recently used last
      this.entries.set(imageId, e);
      return Promise.resolve(e.url);
    }
    if (e) this.entries.delete(imageId);
    const inFlight = this.flights.get(imageId);
    if (inFlight) return inFlight.promise;
    const epoch = this.epoch;
    const flight = {} as Flight;
    flight.promise = (async () => {
      try {
        // Called from a microtask, so that even a source that throws at once
        // settles after the flight is registered.
        const { signed, storeAs } = await Promise.resolve().then(fetch);
        if (epoch === this.epoch) this.store(storeAs, signed);
        return signed.url;
      } finally {
        if (this.flights.get(imageId) === flight) this.flights.delete(imageId);
      }
    })();
    this.flights.set(imageId, flight);
    return flight.promise;
  }

  private store(imageId: string, signed: ChatSignedUrl): void {
    const received = this.now();
    const expires = Date.parse(signed.expires_at);
    const serverNow = signed.server_date === undefined ? NaN : Date.parse(signed.server_date);
    // The HTTP Date has whole seconds: count the lifetime from the end of that second.
    const lifetime = Number.isNaN(serverNow) ? expires - received : expires - serverNow - 1000;
    if (!(lifetime > 0)) return; // already expired (or unreadable): use it once, keep nothing
    const refreshAt = received + lifetime - Math.min(this.margin, lifetime / 2);
    this.entries.set(imageId, { url: signed.url, refreshAt });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  /** Drops the cached URL of an image, so the next resolution fetches a new one. */
  invalidate(imageId: string): void {
    this.entries.delete(imageId);
  }

  /**
   * The app calls this when loading a resolved URL failed: with the HTTP
   * status, or 0 when it is unknown (an `<img>` error event). Unless the
   * failure is transient (429 or 5xx), the URL is dropped and the next
   * resolution fetches a new one. A URL that was already replaced is ignored.
   * Returns whether a URL was dropped.
   */
  reportFailure(url: string, status: number): boolean {
    if (status === 429 || status >= 500) return false;
    for (const [id, e] of this.entries) {
      if (e.url === url) {
        this.entries.delete(id);
        return true;
      }
    }
    return false;
  }

  /** Forgets every URL, and the answers of requests still in flight (sign-out). */
  clear(): void {
    this.entries.clear();
    this.flights.clear();
    this.migrated.clear();
    this.epoch++;
  }

  /** How many URLs are cached. */
  get size(): number {
    return this.entries.size;
  }
}
