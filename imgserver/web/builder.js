// Detail + URL builder: the metadata document, the options as form controls, a live preview
// of the signed URL, copy buttons for the URL and an <img srcset sizes> snippet, and delete.

import { $, altFromKey, copyText, debounce, formatBytes, h } from "./dom.js";
import { ApiError, deleteImage, metadata, sign } from "./api.js";
import { DEFAULTS, imgSnippet, normalise, optionPath } from "./urls.js";

const view = { key: null, doc: null, generation: 0, objectUrl: null, url: "", snippet: "", rendered: "" };
let onDeleted = () => {};

const FIELDS = ["width", "height", "fit", "halign", "valign", "smart", "flip-h", "flip-v", "format", "quality",
  "grayscale", "sharpen", "blur", "brightness", "contrast"];

export function initBuilder(deleted) {
  onDeleted = deleted;
  const form = $("builder-form");
  const refresh = debounce(() => update(), 200);
  const changed = (event) => {
    if (event.target.id === "alt") showPreviewFacts(); // the markup changes, the image does not
    else refresh();
  };
  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    update();
  });
  $("reset-builder").addEventListener("click", () => {
    setDefaults();
    update();
  });
  $("copy-url").addEventListener("click", () => copy(view.url, $("url-out"), "URL"));
  $("copy-snippet").addEventListener("click", () => copy(view.snippet, $("snippet-out"), "HTML"));
  $("delete").addEventListener("click", confirmDelete);
  $("preview").addEventListener("load", showPreviewFacts);
}

/** Opens the detail view of `key`: loads its metadata document, then renders a preview. */
export async function openImage(key) {
  view.key = key;
  view.doc = null;
  view.generation += 1;
  const generation = view.generation;
  $("detail-title").textContent = key;
  $("detail-error").textContent = "";
  $("meta-json").textContent = "Loading…";
  $("meta-facts").replaceChildren();
  clearPreview();
  try {
    const doc = await metadata(key);
    if (generation !== view.generation) return;
    view.doc = doc;
    showMetadata(doc);
    setDefaults();
    await update();
  } catch (error) {
    if (generation !== view.generation) return;
    $("meta-json").textContent = "";
    $("detail-error").textContent = error.status === 404 ? "This image is not stored (any more)." : error.message;
  }
}

export function closeImage() {
  view.key = null;
  view.generation += 1;
  clearPreview();
}

function setDefaults() {
  const doc = view.doc || {};
  // Half the original, at most 640: then the 2x rendering still has real pixels behind it.
  const shown = doc.display_width || doc.width || 1280;
  const values = { ...DEFAULTS, width: Math.max(1, Math.min(640, Math.floor(shown / 2))) };
  $("width").value = values.width;
  $("height").value = values.height;
  $("fit").value = values.fit;
  $("halign").value = values.halign;
  $("valign").value = values.valign;
  $("smart").checked = values.smart;
  $("flip-h").checked = values.flipH;
  $("flip-v").checked = values.flipV;
  $("format").value = values.format;
  $("quality").value = "";
  $("grayscale").checked = values.grayscale;
  $("sharpen").checked = values.sharpen;
  $("blur").value = values.blur;
  $("brightness").value = values.brightness;
  $("contrast").value = values.contrast;
  $("alt").value = altFromKey(view.key || "");
  $("base").value = window.location.origin;
}

function readOptions() {
  const raw = {};
  for (const id of FIELDS) {
    const el = $(id);
    const name = id === "flip-h" ? "flipH" : id === "flip-v" ? "flipV" : id;
    raw[name] = el.type === "checkbox" ? el.checked : el.value;
  }
  return normalise(raw);
}

function baseUrl() {
  const value = $("base").value.trim().replace(/\/+$/, "");
  return /^https?:\/\/[^\s"<>]+$/.test(value) ? value : window.location.origin;
}

function clearPreview() {
  if (view.objectUrl) URL.revokeObjectURL(view.objectUrl);
  view.objectUrl = null;
  view.url = "";
  view.snippet = "";
  view.rendered = "";
  const preview = $("preview");
  preview.removeAttribute("src");
  preview.alt = "";
  delete preview.dataset.type;
  delete preview.dataset.bytes;
  $("preview-info").textContent = "";
  $("url-out").value = "";
  $("snippet-out").value = "";
  $("snippet-note").textContent = "";
  $("copy-status").textContent = "";
}

/** Signs the 1x, 2x and 2x-/meta paths in one call, then fetches the 1x rendering. */
async function update() {
  if (!view.key || !view.doc) return;
  const generation = ++view.generation;
  const key = view.key;
  const options = readOptions();
  const path1 = optionPath(key, options);
  const path2 = optionPath(key, options, 2);
  // A control losing focus fires "change" with nothing changed: keep what is shown.
  const wanted = JSON.stringify([key, path1, baseUrl()]);
  if (wanted === view.rendered) return;
  view.rendered = wanted;
  $("preview-info").textContent = "Rendering…";
  $("preview").setAttribute("aria-busy", "true");
  try {
    const [url1, url2, meta2] = await sign([path1, path2, `meta/${path2}`]);
    if (generation !== view.generation) return;
    view.url = `${baseUrl()}${url1}`;
    $("url-out").value = view.url;
    const response = await fetch(url1, { credentials: "omit" });
    if (!response.ok) {
      const text = (await response.text()).trim().split("\n")[0];
      throw new ApiError(response.status, `the server refused these options (${response.status}): ${text}`);
    }
    const blob = await response.blob();
    const target = await fetch(meta2, { credentials: "omit" })
      .then((r) => (r.ok ? r.json() : null))
      .catch(() => null);
    if (generation !== view.generation) return;
    if (view.objectUrl) URL.revokeObjectURL(view.objectUrl);
    view.objectUrl = URL.createObjectURL(blob);
    const preview = $("preview");
    preview.dataset.type = (response.headers.get("Content-Type") || blob.type).split(";")[0];
    preview.dataset.bytes = String(blob.size);
    preview.dataset.url2x = `${baseUrl()}${url2}`;
    preview.dataset.width2x = String(target?.thumbor?.target?.width ?? 0);
    preview.dataset.generation = String(generation);
    preview.alt = `Preview: ${$("alt").value.trim() || altFromKey(key)}`;
    preview.src = view.objectUrl;
  } catch (error) {
    if (generation !== view.generation) return;
    view.rendered = ""; // let the same options be tried again
    const preview = $("preview");
    preview.removeAttribute("src");
    preview.removeAttribute("aria-busy");
    $("preview-info").textContent = error.message;
    $("snippet-out").value = "";
    $("snippet-note").textContent = "";
    view.snippet = "";
  }
}

/** Once the preview has decoded: its real size, type and bytes, and the snippet. */
function showPreviewFacts() {
  const preview = $("preview");
  if (!preview.src || Number(preview.dataset.generation) !== view.generation) return;
  preview.removeAttribute("aria-busy");
  const width = preview.naturalWidth;
  const height = preview.naturalHeight;
  const type = preview.dataset.type || "";
  $("preview-info").textContent = `${width} × ${height} px · ${type} · ${formatBytes(Number(preview.dataset.bytes))}`;
  view.snippet = imgSnippet({
    url1x: view.url,
    url2x: { url: preview.dataset.url2x, width: Number(preview.dataset.width2x) },
    width,
    height,
    alt: $("alt").value.trim() || altFromKey(view.key || ""),
    sourceWidth: view.doc?.display_width ?? view.doc?.width ?? 0,
  });
  $("snippet-out").value = view.snippet;
  $("snippet-note").textContent = view.snippet.includes("srcset=")
    ? ""
    : "No 2x variant: the original is not wide enough for one.";
}

async function copy(text, field, label) {
  const status = $("copy-status");
  if (!text) {
    status.textContent = "Nothing to copy yet.";
    return;
  }
  status.textContent = (await copyText(text, field)) ? `${label} copied.` : `Copy failed: select the ${label} and copy it.`;
}

function showMetadata(doc) {
  const facts = [
    ["Size", `${doc.display_width ?? doc.width} × ${doc.display_height ?? doc.height} px`],
    ["Format", `${(doc.format || "").toUpperCase()} (${doc.mime || "?"})`],
    ["Bytes", formatBytes(doc.bytes)],
    ["Uploaded", doc.uploaded_at ? `${doc.uploaded_at}${doc.uploader ? ` by ${doc.uploader}` : ""}` : "—"],
  ];
  $("meta-facts").replaceChildren(...facts.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
  $("meta-json").textContent = JSON.stringify(doc, null, 2);
}

function confirmDelete() {
  const key = view.key;
  if (!key) return;
  const dialog = $("confirm-delete");
  $("confirm-text").textContent =
    `“${key}”, its metadata and every cached rendering of it will be removed. This cannot be undone.`;
  dialog.returnValue = "";
  dialog.addEventListener(
    "close",
    async () => {
      if (dialog.returnValue !== "delete") {
        $("delete").focus();
        return;
      }
      try {
        await deleteImage(key);
        onDeleted(key);
      } catch (error) {
        $("detail-error").textContent = `Delete failed: ${error.message}`;
      }
    },
    { once: true },
  );
  dialog.showModal();
}
