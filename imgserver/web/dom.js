// Small DOM helpers. Text always goes in through textContent, never innerHTML, so nothing a
// server or a file name says can become markup.

export const $ = (id) => document.getElementById(id);

/** h("a", {href: "#"}, "text", child) → element. Attributes false/null are left out. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name in el && typeof value !== "string") el[name] = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return "";
  if (bytes < 1000) return `${bytes} B`;
  const units = ["kB", "MB", "GB"];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value >= 100 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

/** "staff/dr-smith-3f2a9c1e7b4d.jpg" → "dr smith": a starting point for alt text. */
export function altFromKey(key) {
  const base = key.split("/").pop().replace(/\.[a-z0-9]+$/i, "").replace(/-[0-9a-f]{12}$/, "");
  return base.replace(/[-_.]+/g, " ").trim() || "image";
}

/** Debounce: run fn once, `ms` after the last call. */
export function debounce(fn, ms) {
  let timer = 0;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** Copy text: the async Clipboard API, or a selected field and execCommand as a fallback. */
export async function copyText(text, field) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (!field) return false;
    field.focus();
    field.select();
    return document.execCommand("copy");
  }
}
