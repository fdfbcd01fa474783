// The upload API, as the console uses it. The token lives in sessionStorage only: it is
// gone when the tab closes, and other tabs never see it.

const TOKEN_KEY = "imgserver.console.token";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
  get isAuth() {
    return this.status === 401 || this.status === 403;
  }
}

let authFailed = () => {};

/** Called with the ApiError whenever the server refuses the token (401/403). */
export function onAuthFailure(callback) {
  authFailed = callback;
}

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY) || "",
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** The API's error bodies are one short line of text; fall back to the status. */
function errorFrom(status, text, statusText) {
  const message = (text || "").trim().split("\n")[0] || statusText || `HTTP ${status}`;
  return new ApiError(status, message);
}

async function call(method, path, { json, secret } = {}) {
  const headers = { Authorization: `Bearer ${secret ?? token.get()}` };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body, cache: "no-store", credentials: "omit" });
  } catch {
    throw new ApiError(0, "the server could not be reached");
  }
  if (!response.ok) {
    const error = errorFrom(response.status, await response.text(), response.statusText);
    if (error.isAuth && secret === undefined) authFailed(error);
    throw error;
  }
  if (response.status === 204) return null;
  return response.json();
}

/** Checks a token without storing it: resolves, or throws the API's ApiError. */
export async function checkToken(secret) {
  await call("GET", "/images?limit=1", { secret });
}

export function listImages({ prefix = "", cursor = null, limit = 24 } = {}) {
  const query = new URLSearchParams({ prefix, limit: String(limit) });
  if (cursor) query.set("cursor", cursor);
  return call("GET", `/images?${query}`);
}

export function metadata(key) {
  return call("GET", `/image/${encodeKey(key)}/metadata`);
}

export function deleteImage(key) {
  return call("DELETE", `/image/${encodeKey(key)}`);
}

/** Signs option paths ("300x200/smart/<key>") on the server; the key never comes here. */
export async function sign(paths) {
  const answer = await call("POST", "/api/sign", { json: { paths } });
  return answer.urls;
}

/** A key as a URL path: each segment percent-encoded, slashes kept. */
export function encodeKey(key) {
  return key.split("/").map(encodeURIComponent).join("/");
}

/**
 * POST /image as multipart field "media". XMLHttpRequest rather than fetch, because only
 * it reports upload progress. onProgress(fraction) while sending; onSent() once the bytes
 * are out and the server is checking them. Resolves {status, key, metadata}; rejects with
 * an ApiError carrying the server's message.
 */
export function uploadFile(file, { onProgress = () => {}, onSent = () => {} } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/image");
    xhr.setRequestHeader("Authorization", `Bearer ${token.get()}`);
    xhr.responseType = "text";
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable && event.total > 0) onProgress(event.loaded / event.total);
    });
    xhr.upload.addEventListener("load", () => onSent());
    xhr.addEventListener("load", () => {
      if (xhr.status === 200 || xhr.status === 201) {
        try {
          const answer = JSON.parse(xhr.responseText);
          resolve({ status: xhr.status, key: answer.key, metadata: answer.metadata });
        } catch {
          reject(new ApiError(xhr.status, "the server's answer was not JSON"));
        }
        return;
      }
      // An auth failure stays on this file's row (the user sees why it failed); the next
      // other call signs out.
      reject(errorFrom(xhr.status, xhr.responseText, xhr.statusText));
    });
    xhr.addEventListener("error", () => {
      // The server may answer 413 and close the connection before the browser has sent the
      // whole body; browsers then report a network error without the answer.
      reject(new ApiError(0, "the connection was closed during the upload (is the file over the upload limit?)"));
    });
    xhr.addEventListener("abort", () => reject(new ApiError(0, "upload cancelled")));
    const form = new FormData();
    form.append("media", file, file.name);
    xhr.send(form);
  });
}
