// Showing a decrypted photo: drawn to a canvas from memory, never to an <img>
// with a URL, never written anywhere. Where the browser has WebCodecs'
// ImageDecoder, the bytes are decoded straight from memory (no Blob, which a
// browser may page to disk, and no object URL at all); elsewhere through an
// in-memory Blob and createImageBitmap, still with no URL. The decoded frame
// is drawn and closed, and the caller's copy of the bytes is zeroed. A
// professional's viewer adds a watermark on a canvas laid over the photo, and
// wipes both.

import { h } from "./dom.js";

/** A photo on screen that can be wiped. */
export interface PhotoView {
  /** The figure to put in the page. */
  readonly element: HTMLElement;
  /** The canvas holding the photo's pixels, exactly as decoded. */
  readonly canvas: HTMLCanvasElement;
  /** Clears the pixels and shrinks the canvases to nothing. Idempotent. */
  wipe(): void;
  readonly wiped: boolean;
}

/** Options of {@link showPhoto}. */
export interface ShowOptions {
  /** The image's type, for the decoder. */
  contentType: string;
  /** What the canvas shows, for screen readers. */
  label: string;
  /** A line under the photo. */
  caption?: string;
  /** Lines drawn across the photo (a professional's id and the time), on a canvas over it. */
  watermark?: string[];
}

/**
 * Decodes image bytes in memory and draws them to a new canvas. The bytes are
 * zeroed once decoded. Throws when the browser cannot decode the type (HEIC
 * in most browsers).
 */
export async function showPhoto(bytes: Uint8Array, opts: ShowOptions): Promise<PhotoView> {
  const canvas = h("canvas", { class: "photo", role: "img", "aria-label": opts.label });
  try {
    await decodeInto(canvas, bytes, opts.contentType);
  } finally {
    bytes.fill(0);
  }
  const layers = h("div", { class: "photo-layers" }, canvas);
  let mark: HTMLCanvasElement | undefined;
  if (opts.watermark && opts.watermark.length > 0) {
    mark = h("canvas", { class: "watermark", "aria-hidden": "true" });
    drawWatermark(mark, canvas.width, canvas.height, opts.watermark);
    layers.append(mark);
  }
  const figure = h(
    "figure",
    { class: "photo-figure" },
    layers,
    opts.caption ? h("figcaption", {}, opts.caption) : null,
    opts.watermark ? h("p", { class: "watermark-text" }, opts.watermark.join(" · ")) : null,
  );
  // No context menu, no drag, no selection: the canvas offers no "save image".
  for (const el of [figure, canvas]) {
    el.addEventListener("contextmenu", (e) => e.preventDefault());
    el.addEventListener("dragstart", (e) => e.preventDefault());
  }
  let wiped = false;
  return {
    element: figure,
    canvas,
    get wiped() {
      return wiped;
    },
    wipe() {
      if (wiped) return;
      wiped = true;
      for (const c of [canvas, mark]) {
        if (!c) continue;
        c.getContext("2d")?.clearRect(0, 0, c.width, c.height);
        c.width = 0;
        c.height = 0;
      }
      figure.classList.add("wiped");
    },
  };
}

// Decodes the image into the canvas, sized to the image. No colour-space
// conversion and no premultiplication: the canvas holds the file's own pixel
// values.
async function decodeInto(canvas: HTMLCanvasElement, bytes: Uint8Array, type: string): Promise<void> {
  const ctx = canvas.getContext("2d");
  if (!ctx) throw new Error("no 2D canvas in this browser");
  try {
    if (typeof ImageDecoder === "function" && (await ImageDecoder.isTypeSupported(type))) {
      const decoder = new ImageDecoder({ data: bytes as Uint8Array<ArrayBuffer>, type, colorSpaceConversion: "none" });
      try {
        const { image } = await decoder.decode();
        canvas.width = image.displayWidth;
        canvas.height = image.displayHeight;
        ctx.drawImage(image, 0, 0);
        image.close();
      } finally {
        decoder.close();
      }
      return;
    }
    const bitmap = await createImageBitmap(new Blob([bytes as Uint8Array<ArrayBuffer>], { type }), {
      colorSpaceConversion: "none",
      premultiplyAlpha: "none",
    });
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    ctx.drawImage(bitmap, 0, 0);
    bitmap.close();
  } catch (cause) {
    throw new Error(`this browser cannot show a photo of type ${type}`, { cause });
  }
}

// The watermark: the lines repeated diagonally across the whole photo, dark
// text with a light outline so it shows on any photo.
function drawWatermark(c: HTMLCanvasElement, width: number, height: number, lines: string[]): void {
  c.width = width;
  c.height = height;
  const ctx = c.getContext("2d");
  if (!ctx) return;
  const size = Math.max(12, Math.round(Math.min(width, height) / 18));
  ctx.font = `bold ${size}px sans-serif`;
  ctx.textBaseline = "middle";
  ctx.lineWidth = Math.max(2, size / 6);
  ctx.strokeStyle = "rgba(255,255,255,0.55)";
  ctx.fillStyle = "rgba(120,0,0,0.55)";
  ctx.translate(width / 2, height / 2);
  ctx.rotate(-Math.PI / 8);
  const text = lines.join("  ·  ");
  const step = size * 3;
  const span = Math.hypot(width, height);
  const w = ctx.measureText(text).width + size * 2;
  for (let y = -span / 2; y < span / 2; y += step) {
    const offset = (Math.round(y / step) % 2) * (w / 2);
    for (let x = -span / 2 - w + offset; x < span / 2; x += w) {
      ctx.strokeText(text, x, y);
      ctx.fillText(text, x, y);
    }
  }
}
