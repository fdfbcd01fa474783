// Upload: drag-and-drop and a file picker, several files at once, a progress bar and a
// clear outcome per file. Errors are the API's own messages (too large, not an image, …).

import { $, formatBytes, h } from "./dom.js";
import { encodeKey, uploadFile } from "./api.js";

const PARALLEL = 3;

let onBatchDone = () => {};

/** Wire the drop zone and picker; callback(results) runs when a batch has finished. */
export function initUpload(callback) {
  onBatchDone = callback;
  const zone = $("dropzone");
  const input = $("file-input");
  $("choose-files").addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    const files = [...input.files];
    input.value = "";
    if (files.length) uploadAll(files);
  });
  zone.addEventListener("dragenter", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", (event) => {
    if (!zone.contains(event.relatedTarget)) zone.classList.remove("over");
  });
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    const files = [...(event.dataTransfer?.files || [])];
    if (files.length) uploadAll(files);
  });
  // A file dropped beside the zone must not make the browser navigate away to it.
  for (const type of ["dragover", "drop"]) {
    window.addEventListener(type, (event) => {
      if (!zone.contains(event.target)) event.preventDefault();
    });
  }
}

function row(file) {
  const progress = h("progress", { max: 100, value: 0, "aria-label": `Upload progress of ${file.name}` });
  const state = h("span", { class: "upload-state" }, "Waiting…");
  const item = h(
    "li",
    { class: "upload waiting", dataset: { name: file.name } },
    h("span", { class: "upload-name" }, file.name),
    h("span", { class: "upload-size muted" }, formatBytes(file.size)),
    progress,
    state,
  );
  $("uploads").append(item);
  const set = (phase, text) => {
    item.className = `upload ${phase}`;
    item.dataset.state = phase;
    state.replaceChildren(...[text].flat());
  };
  return { item, progress, set };
}

async function uploadOne(file, ui) {
  ui.set("sending", "Uploading 0%");
  try {
    const result = await uploadFile(file, {
      onProgress: (fraction) => {
        ui.progress.value = Math.round(fraction * 100);
        ui.set("sending", `Uploading ${Math.round(fraction * 100)}%`);
      },
      onSent: () => {
        ui.progress.value = 100;
        ui.set("checking", "Checking the image…");
      },
    });
    ui.progress.value = 100;
    const meta = result.metadata || {};
    const open = h("a", { href: `#/image/${encodeKey(result.key)}` }, "open");
    const note = result.status === 200 ? "Already stored" : "Done";
    ui.set("done", [`${note}: ${meta.display_width}×${meta.display_height}, `, open]);
    ui.item.dataset.key = result.key;
    return { ok: true, key: result.key };
  } catch (error) {
    ui.progress.value = 0;
    const auth = error.isAuth ? " (sign out and sign in again with a valid token)" : "";
    ui.set("failed", `Failed: ${error.message}${auth}`);
    return { ok: false, error };
  }
}

async function uploadAll(files) {
  // Every file gets its row at once, in the order given; PARALLEL of them upload at a time.
  const queue = files.map((file) => [file, row(file)]);
  const results = [];
  const worker = async () => {
    while (queue.length) results.push(await uploadOne(...queue.shift()));
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, files.length) }, worker));
  onBatchDone(results);
}
