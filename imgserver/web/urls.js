// Thumbor option paths from the builder's choices. Pure functions: no DOM, no network.
// Segment order is the grammar's: fit mode / [-]Wx[-]H / halign / valign / smart / filters / key.

import { encodeKey } from "./api.js";

export const DEFAULTS = Object.freeze({
  width: 0,
  height: 0,
  fit: "crop",
  halign: "center",
  valign: "middle",
  smart: false,
  flipH: false,
  flipV: false,
  format: "",
  quality: null,
  grayscale: false,
  sharpen: false,
  blur: 0,
  brightness: 0,
  contrast: 0,
});

const clampInt = (value, min, max, fallback) => {
  const n = Number.parseInt(value, 10);
  return Number.isFinite(n) ? Math.min(Math.max(n, min), max) : fallback;
};

/** Turns raw form values into clean options (numbers clamped to what the server accepts). */
export function normalise(raw) {
  const quality = clampInt(raw.quality, 1, 100, null);
  return {
    ...DEFAULTS,
    ...raw,
    width: clampInt(raw.width, 0, 8192, 0),
    height: clampInt(raw.height, 0, 8192, 0),
    quality,
    blur: clampInt(raw.blur, 0, 150, 0),
    brightness: clampInt(raw.brightness, -100, 100, 0),
    contrast: clampInt(raw.contrast, -100, 100, 0),
  };
}

export function filtersOf(options) {
  const filters = [];
  if (options.format) filters.push(`format(${options.format})`);
  if (options.quality !== null) filters.push(`quality(${options.quality})`);
  if (options.grayscale) filters.push("grayscale()");
  if (options.brightness) filters.push(`brightness(${options.brightness})`);
  if (options.contrast) filters.push(`contrast(${options.contrast})`);
  if (options.blur) filters.push(`blur(${options.blur})`);
  if (options.sharpen) filters.push("sharpen(1.5,0.5,true)");
  return filters;
}

/** The path to sign, e.g. "fit-in/640x0/smart/filters:format(webp)/photos/a.jpg". scale=2 doubles the box. */
export function optionPath(key, options, scale = 1) {
  const parts = [];
  if (options.fit !== "crop") parts.push(options.fit);
  const width = options.width * scale;
  const height = options.height * scale;
  if (width || height || options.flipH || options.flipV) {
    parts.push(`${options.flipH ? "-" : ""}${width}x${options.flipV ? "-" : ""}${height}`);
  }
  if (options.halign !== "center") parts.push(options.halign);
  if (options.valign !== "middle") parts.push(options.valign);
  if (options.smart) parts.push("smart");
  const filters = filtersOf(options);
  if (filters.length) parts.push(`filters:${filters.join(":")}`);
  parts.push(encodeKey(key));
  return parts.join("/");
}

const escapeAttr = (text) =>
  String(text).replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/**
 * The <img> markup to paste: src is the 1x URL; srcset lists the 1x and 2x renderings with
 * their real widths (w descriptors) and sizes says the image is shown at most 1x wide.
 * The 2x entry is left out when it would not be larger than the 1x, or only by upscaling
 * past the original's width (a crop URL may upscale; that adds bytes, not detail).
 */
export function imgSnippet({ url1x, url2x, width, height, alt, sourceWidth }) {
  const attrs = [`src="${escapeAttr(url1x)}"`];
  if (url2x && url2x.width > width && url2x.width <= sourceWidth) {
    attrs.push(`srcset="${escapeAttr(url1x)} ${width}w, ${escapeAttr(url2x.url)} ${url2x.width}w"`);
    attrs.push(`sizes="(max-width: ${width}px) 100vw, ${width}px"`);
  }
  attrs.push(`width="${width}"`, `height="${height}"`, `alt="${escapeAttr(alt)}"`, `loading="lazy"`, `decoding="async"`);
  return `<img ${attrs.join("\n     ")}>`;
}
