// The console's entry point: sign-in, sign-out, and the two views (#/ and #/image/<key>).

import { $ } from "./dom.js";
import { checkToken, onAuthFailure, token } from "./api.js";
import { initUpload } from "./upload.js";
import { forget, initGallery, reload } from "./gallery.js";
import { closeImage, initBuilder, openImage } from "./builder.js";

let signedIn = false;
let lastOpened = null;

function showSignIn(message = "") {
  signedIn = false;
  closeImage();
  $("app").hidden = true;
  $("session").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message;
  $("uploads").replaceChildren();
  $("grid").replaceChildren();
  $("token").value = "";
  $("token").focus();
}

function showApp() {
  signedIn = true;
  $("signin").hidden = true;
  $("signin-error").textContent = "";
  $("session").hidden = false;
  $("app").hidden = false;
  reload();
  route();
}

function signOut(message = "") {
  token.clear();
  if (window.location.hash) history.replaceState(null, "", window.location.pathname);
  showSignIn(message);
}

function notice(text) {
  $("notice").textContent = text;
}

/** #/image/<encoded key> → the detail view; anything else → upload + gallery. */
function route() {
  if (!signedIn) return;
  const match = /^#\/image\/(.+)$/.exec(window.location.hash);
  const key = match ? match[1].split("/").map(decodeURIComponent).join("/") : null;
  $("home").hidden = Boolean(key);
  $("detail").hidden = !key;
  if (key) {
    notice("");
    lastOpened = key;
    openImage(key);
    $("detail-title").focus();
  } else {
    closeImage();
    // Back from a detail view: keyboard focus returns to the tile that was opened.
    const tile = lastOpened && [...$("grid").querySelectorAll("li[data-key]")].find((li) => li.dataset.key === lastOpened);
    if (tile) tile.querySelector("a").focus();
    lastOpened = null;
  }
}

async function signIn(event) {
  event.preventDefault();
  const secret = $("token").value.trim();
  if (!secret) {
    $("signin-error").textContent = "Enter an upload token.";
    return;
  }
  const button = event.submitter || $("signin-form").querySelector("button");
  button.disabled = true;
  try {
    await checkToken(secret);
    token.set(secret);
    showApp();
    $("upload-title").focus();
  } catch (error) {
    $("signin-error").textContent =
      error.status === 403 ? "That token was refused: it is not one of the server's upload tokens."
      : error.status === 404 ? "The upload API is not enabled on this server."
      : `Sign-in failed: ${error.message}`;
  } finally {
    button.disabled = false;
  }
}

function boot() {
  onAuthFailure((error) => signOut(`Signed out: the server refused the token (${error.message}).`));
  initUpload((results) => {
    if (results.some((result) => result.ok)) reload();
  });
  initGallery();
  initBuilder((key) => {
    forget(key);
    lastOpened = null;
    window.location.hash = "#/";
    notice(`Deleted ${key}.`);
  });
  $("signin-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => signOut("Signed out."));
  window.addEventListener("hashchange", route);
  $("loading").remove();
  if (token.get()) {
    // A reload keeps the tab's session; the token is checked again before use.
    checkToken(token.get()).then(showApp, (error) =>
      error.isAuth ? signOut("Signed out: the saved token was refused.") : showSignIn(error.message),
    );
  } else {
    showSignIn();
  }
}

boot();
