// Gallery: stored images as a grid of thumbnails rendered by imgserver itself (signed in one
// batch per page, lazy-loaded), paged with the API's cursor, filtered by key prefix.

import { $, debounce, formatBytes, h } from "./dom.js";
import { encodeKey, listImages, sign } from "./api.js";

// Images per page: 24, or /console?page=N (1..200).
const requestedPage = Number.parseInt(new URLSearchParams(window.location.search).get("page") || "", 10);
const PAGE = requestedPage >= 1 && requestedPage <= 200 ? requestedPage : 24;
// 2x the shown size, so thumbnails stay sharp on high-density screens.
const thumbPath = (key) => `fit-in/400x300/filters:format(webp):quality(70)/${encodeKey(key)}`;

const state = { prefix: "", cursor: null, loading: false, generation: 0, count: 0 };

export function initGallery() {
  const prefix = $("prefix");
  const search = debounce(() => reload(), 250);
  prefix.addEventListener("input", search);
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    reload();
  });
  $("more").addEventListener("click", () => loadPage());
}

/** Back to the first page with the current prefix (after a search, upload or delete). */
export function reload() {
  state.prefix = $("prefix").value.trim();
  state.cursor = null;
  state.count = 0;
  state.generation += 1;
  $("grid").replaceChildren();
  return loadPage();
}

/** Drops one card (after a delete) without reloading the page. */
export function forget(key) {
  for (const card of $("grid").querySelectorAll("li[data-key]")) {
    if (card.dataset.key === key) {
      card.remove();
      state.count -= 1;
    }
  }
  if (state.count === 0) showStatus();
}

function showStatus(text) {
  if (text !== undefined) {
    $("gallery-status").textContent = text;
  } else if (state.count === 0) {
    $("gallery-status").textContent = state.prefix
      ? `No image keys start with “${state.prefix}”.`
      : "No images yet: upload some above.";
  } else {
    $("gallery-status").textContent = `${state.count} image${state.count === 1 ? "" : "s"}${state.cursor ? " (more below)" : ""}`;
  }
}

async function loadPage() {
  const generation = state.generation;
  state.loading = true;
  $("more").disabled = true;
  $("grid").setAttribute("aria-busy", "true");
  showStatus("Loading…");
  try {
    const page = await listImages({ prefix: state.prefix, cursor: state.cursor, limit: PAGE });
    const items = page.items.filter((doc) => doc && typeof doc.key === "string");
    const urls = items.length ? await sign(items.map((doc) => thumbPath(doc.key))) : [];
    if (generation !== state.generation) return; // a newer search replaced this one
    $("grid").append(...items.map((doc, i) => card(doc, urls[i])));
    state.cursor = page.cursor;
    state.count += items.length;
    showStatus();
  } catch (error) {
    if (generation === state.generation) showStatus(`Could not list the images: ${error.message}`);
  } finally {
    if (generation === state.generation) {
      state.loading = false;
      $("more").hidden = !state.cursor;
      $("more").disabled = false;
      $("grid").removeAttribute("aria-busy");
    }
  }
}

function card(doc, url) {
  const width = doc.display_width ?? doc.width;
  const height = doc.display_height ?? doc.height;
  const thumb = h("img", {
    src: url,
    alt: `Thumbnail of ${doc.key}`,
    loading: "lazy",
    decoding: "async",
    width: 200,
    height: 150,
  });
  const frame = h("span", { class: "thumb" }, thumb);
  if (/^#[0-9a-f]{6}$/i.test(doc.color?.average || "")) frame.style.backgroundColor = doc.color.average;
  const facts = [`${width}×${height}`, (doc.format || "").toUpperCase(), formatBytes(doc.bytes)].filter(Boolean);
  return h(
    "li",
    { dataset: { key: doc.key } },
    h(
      "a",
      { class: "tile", href: `#/image/${encodeKey(doc.key)}` },
      frame,
      h("span", { class: "tile-name" }, doc.key),
      h("span", { class: "tile-facts muted" }, facts.join(" · ")),
    ),
  );
}
