// The HTTP layer: JSON requests to the API exactly as the server's strict
// decoder wants them, and the object store's presigned uploads and signed
// downloads, which never carry the bearer token.

import { type Bytes } from "./bytes.js";
import { API_ERROR_CODES, type ApiErrorCode, MedShareError, codeForStatus, parseRetryAfter } from "./errors.js";
import type { Upload } from "./types.js";

/** A bearer token, or a function that returns the current one (called per request). */
export type TokenSource = string | (() => string | Promise<string>);

/** How to reach the API. */
export interface TransportOptions {
  /**
   * The API's origin, e.g. "http://127.0.0.1:8080"; "" for the page's own
   * origin in a browser.
   */
  baseUrl: string;
  /** The caller's bearer token. */
  token?: TokenSource;
  /** A fetch implementation (default: globalThis.fetch); tests wrap it to count requests. */
  fetch?: typeof globalThis.fetch;
  /** The clock, in milliseconds since the epoch (default Date.now). */
  now?: () => number;
}

/** Options of one API request. */
export interface RequestOptions {
  /** A JSON body; when absent the request has no body and no Content-Type. */
  body?: unknown;
  headers?: Record<string, string> | undefined;
  query?: Record<string, string | number | undefined> | undefined;
}

/** A decoded JSON answer and the response it came in. */
export interface JsonResponse<T> {
  data: T;
  response: Response;
}

// Headers the fetch implementation derives itself (browsers refuse to set them).
const DERIVED_HEADERS = new Set(["host", "content-length"]);

/** Sends requests; {@link MedShareClient} is built on it. */
export class Transport {
  readonly baseUrl: string;
  readonly now: () => number;
  private readonly token: TokenSource | undefined;
  private readonly fetchFn: typeof globalThis.fetch;

  constructor(opts: TransportOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, "");
    this.token = opts.token;
    const f = opts.fetch ?? globalThis.fetch;
    // Called as a method of another object, browsers' fetch throws "Illegal invocation".
    this.fetchFn = (input, init) => f(input, init);
    this.now = opts.now ?? Date.now;
  }

  private async bearer(): Promise<string | undefined> {
    if (this.token === undefined) return undefined;
    return typeof this.token === "string" ? this.token : await this.token();
  }

  /**
   * Calls the API: `Authorization: Bearer`, `Accept: application/json`, and,
   * only when there is a body, `Content-Type: application/json` with the body
   * as compact JSON. GET, DELETE and bodiless POSTs send no body at all.
   */
  async json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<JsonResponse<T>> {
    let url = this.baseUrl + path;
    if (opts.query) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(opts.query)) if (v !== undefined) q.set(k, String(v));
      const s = q.toString();
      if (s) url += "?" + s;
    }
    const headers: Record<string, string> = { Accept: "application/json", ...opts.headers };
    const tok = await this.bearer();
    if (tok) headers["Authorization"] = "Bearer " + tok;
    const init: RequestInit = { method, headers, redirect: "error", credentials: "omit", cache: "no-store" };
    if (opts.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(opts.body);
    }
    const response = await this.send(url, init, `${method} ${path}`);
    const text = await response.text();
    if (!response.ok) throw apiError(response, text, this.now());
    try {
      return { data: JSON.parse(text) as T, response };
    } catch (cause) {
      throw new MedShareError({
        code: "bad_response",
        message: `${method} ${path}: the answer is not JSON`,
        status: response.status,
        cause,
      });
    }
  }

  /**
   * Sends an object to the store with exactly the method, URL and headers the
   * server returned (less Host and Content-Length, which fetch derives from
   * the URL and the body), and without the bearer token. With onProgress, in
   * a browser, it is sent with XMLHttpRequest, whose upload events fetch does
   * not have, and onProgress gets the bytes sent so far.
   */
  async sendObject(upload: Upload, body: Uint8Array, onProgress?: (loaded: number, total: number) => void): Promise<void> {
    checkStorageUrl(upload.url);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(upload.headers ?? {})) {
      if (DERIVED_HEADERS.has(k.toLowerCase())) {
        if (k.toLowerCase() === "content-length" && Number(v) !== body.length) {
          throw new MedShareError({
            code: "bad_response",
            message: `the upload is pinned to ${v} bytes, not ${body.length}`,
          });
        }
        continue;
      }
      headers[k] = v;
    }
    if (onProgress && typeof XMLHttpRequest === "function") {
      return sendWithProgress(upload, headers, body, onProgress);
    }
    const response = await this.send(
      upload.url,
      { method: upload.method, headers, body: body as Bytes, redirect: "error", credentials: "omit" },
      "upload",
    );
    await response.arrayBuffer().catch(() => undefined);
    if (!response.ok) {
      throw new MedShareError({
        code: "storage_refused",
        message: `the object store refused the upload (${response.status})`,
        status: response.status,
      });
    }
    onProgress?.(body.length, body.length);
  }

  /** GETs a signed URL of the object store, without the bearer token. */
  async download(url: string): Promise<Bytes> {
    checkStorageUrl(url);
    const response = await this.send(
      url,
      { method: "GET", redirect: "error", credentials: "omit", cache: "no-store" },
      "download",
    );
    if (response.status !== 200) {
      await response.arrayBuffer().catch(() => undefined);
      throw new MedShareError({
        code: "storage_refused",
        message: `the object store refused the download (${response.status})`,
        status: response.status,
      });
    }
    return new Uint8Array(await response.arrayBuffer());
  }

  private async send(url: string, init: RequestInit, what: string): Promise<Response> {
    try {
      return await this.fetchFn(url, init);
    } catch (cause) {
      throw new MedShareError({ code: "network_error", message: `${what}: the request did not complete`, cause });
    }
  }
}

// XMLHttpRequest for an upload with progress events. It cannot refuse a
// redirect as fetch's redirect: "error" does, so an answer from another URL
// than the one sent to counts as a refusal.
function sendWithProgress(
  upload: Upload,
  headers: Record<string, string>,
  body: Uint8Array,
  onProgress: (loaded: number, total: number) => void,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(upload.method, upload.url);
    xhr.withCredentials = false;
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : body.length);
    xhr.onload = () => {
      const moved = xhr.responseURL !== "" && xhr.responseURL !== new URL(upload.url).href;
      if (xhr.status >= 200 && xhr.status < 300 && !moved) {
        onProgress(body.length, body.length);
        resolve();
      } else {
        reject(
          new MedShareError({
            code: "storage_refused",
            message: moved ? "the object store redirected the upload" : `the object store refused the upload (${xhr.status})`,
            status: xhr.status,
          }),
        );
      }
    };
    xhr.onerror = () => reject(new MedShareError({ code: "network_error", message: "upload: the request did not complete" }));
    xhr.onabort = xhr.onerror;
    xhr.send(body as Bytes);
  });
}

function checkStorageUrl(url: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch (cause) {
    throw new MedShareError({ code: "bad_response", message: "the server sent an object URL that is not a URL", cause });
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") {
    throw new MedShareError({ code: "bad_response", message: `the server sent an object URL of scheme ${u.protocol}` });
  }
}

function apiError(response: Response, text: string, now: number): MedShareError {
  let code: ApiErrorCode = codeForStatus(response.status);
  let message = `HTTP ${response.status}`;
  let requestId = response.headers.get("X-Request-Id") ?? "";
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown; request_id?: unknown }; message?: unknown };
    const e = body.error;
    if (e && typeof e === "object") {
      if (typeof e.code === "string" && API_ERROR_CODES.has(e.code)) code = e.code as ApiErrorCode;
      if (typeof e.message === "string") message = e.message;
      if (typeof e.request_id === "string" && e.request_id) requestId = e.request_id;
    } else if (typeof body.message === "string") {
      message = body.message; // API Gateway's own answers, e.g. {"message":"Unauthorized"}
    }
  } catch {
    // not JSON: keep the status's code
  }
  const retryAfter =
    response.status === 429 || response.status === 503
      ? parseRetryAfter(response.headers.get("Retry-After"), now)
      : undefined;
  return new MedShareError({ code, message, status: response.status, requestId, retryAfter });
}
