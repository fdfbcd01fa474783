"""The web console in headless Chromium, against the real server: sign in, upload, browse,
build and copy signed URLs, delete; rejected uploads; phone width and keyboard use."""

from __future__ import annotations

import base64
import json
import os
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests import images
from tests.browser.conftest import MAX_UPLOAD, TOKEN, Server

pytestmark = pytest.mark.browser

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def http(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        body = error.read()
        error.close()
        return error.code, dict(error.headers), body


def sign_in(page: Page, server: Server, secret: str = TOKEN, query: str = "") -> None:
    page.goto(f"{server.url}/console{query}")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Upload token").fill(secret)
    page.get_by_role("button", name="Sign in").click()


def file_payload(name: str, data: bytes, mime: str) -> dict[str, object]:
    return {"name": name, "mimeType": mime, "buffer": data}


def drop_files(page: Page, files: list[tuple[str, bytes, str]]) -> None:
    """A real drop event on the drop zone, carrying File objects built in the page."""
    encoded = [[name, mime, base64.b64encode(data).decode()] for name, data, mime in files]
    transfer = page.evaluate_handle(
        """(files) => {
            const transfer = new DataTransfer();
            for (const [name, type, b64] of files) {
                const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
                transfer.items.add(new File([bytes], name, { type }));
            }
            return transfer;
        }""",
        encoded,
    )
    page.dispatch_event("#dropzone", "dragenter", {"dataTransfer": transfer})
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})


def no_horizontal_scroll(page: Page) -> None:
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the viewport"


def test_sign_in_upload_browse_build_copy_delete(page: Page, server: Server, artifacts: Path) -> None:
    sign_in(page, server, query="?page=1")  # one image per gallery page: the cursor is used
    expect(page.get_by_role("heading", name="Upload")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    # The token is kept for this tab only.
    assert page.evaluate("() => Object.values(sessionStorage)") == [TOKEN]
    assert page.evaluate("() => localStorage.length") == 0
    expect(page.locator("#gallery-status")).to_have_text("No images yet: upload some above.")

    # Upload two generated images through the file picker: both bars reach the end, both done.
    page.locator("#file-input").set_input_files(
        [
            file_payload("Harbour at dusk.jpg", images.jpeg(1200, 900), "image/jpeg"),
            file_payload("logo.png", images.png(800, 800, alpha=True), "image/png"),
        ]
    )
    rows = page.locator("#uploads li")
    expect(rows).to_have_count(2)
    for name, size in (("Harbour at dusk.jpg", "1200×900"), ("logo.png", "800×800")):
        row = rows.filter(has_text=name)
        expect(row).to_have_attribute("data-state", "done")
        expect(row).to_contain_text(f"Done: {size}")
        expect(row.locator("progress")).to_have_js_property("value", 100)

    # Both are in the gallery, one page at a time, each with a thumbnail rendered (and signed)
    # by imgserver.
    tiles = page.locator("#grid li")
    more = page.get_by_role("button", name="Load more")
    expect(tiles).to_have_count(1)
    expect(page.locator("#gallery-status")).to_have_text("1 image (more below)")
    more.click()
    expect(tiles).to_have_count(2)
    expect(more).to_be_hidden()
    harbour = tiles.filter(has_text="harbour-at-dusk-")
    logo = tiles.filter(has_text="logo-")
    expect(harbour).to_contain_text("1200×900 · JPEG")
    expect(logo).to_contain_text("800×800 · PNG")
    for tile, width in ((harbour, 400), (logo, 300)):  # fit-in/400x300
        thumb = tile.locator("img")
        expect(thumb).to_have_attribute("loading", "lazy")
        expect(thumb).to_have_attribute("alt", re.compile(r"^Thumbnail of "))
        expect(thumb).to_have_js_property("naturalWidth", width)
        src = thumb.get_attribute("src") or ""
        assert not src.startswith("/unsafe/")
        status, headers, _ = http(server.url + src)
        assert (status, headers["Content-Type"]) == (200, "image/webp")
    expect(page.locator("#gallery-status")).to_have_text("2 images")

    # Search by key prefix.
    page.get_by_label("Key prefix").fill("logo")
    expect(tiles).to_have_count(1)
    expect(tiles.first).to_contain_text("logo-")
    page.get_by_label("Key prefix").fill("")
    expect(tiles).to_have_count(1)
    more.click()
    expect(tiles).to_have_count(2)
    expect(harbour.locator("img")).to_have_js_property("naturalWidth", 400)
    page.get_by_label("Key prefix").blur()
    page.screenshot(path=str(artifacts / "console-gallery.png"), full_page=True)

    # Open the photo: its metadata document, and a preview at the default size.
    harbour.get_by_role("link").click()
    title = page.locator("#detail-title")
    expect(title).to_have_text(re.compile(r"^harbour-at-dusk-[0-9a-f]{12}\.jpg$"))
    key = title.inner_text()
    expect(page).to_have_url(re.compile(rf"#/image/{re.escape(key)}$"))
    expect(page.locator("#meta-json")).to_contain_text('"display_width": 1200')
    expect(page.locator("#meta-json")).to_contain_text('"uploader": "editor"')
    preview = page.locator("#preview")
    expect(page.locator("#preview-info")).to_contain_text("600 × 450 px · image/jpeg")

    # Change width and format: the preview is re-rendered, and it is what the URL says.
    page.get_by_label("Width").fill("320")
    page.get_by_label("Format").select_option("webp")
    expect(page.locator("#preview-info")).to_contain_text("320 × 240 px · image/webp")
    expect(preview).to_have_js_property("naturalWidth", 320)
    expect(preview).to_have_js_property("naturalHeight", 240)
    expect(preview).to_have_attribute("data-type", "image/webp")  # the response's Content-Type
    expect(preview).to_have_attribute("alt", "Preview: harbour at dusk")
    url_field = page.get_by_label("Signed URL")
    expect(url_field).to_have_value(re.compile(rf"^{re.escape(server.url)}/[\w=-]{{28}}/320x0/filters:format\(webp\)/"))

    # Copy the URL: the clipboard holds it, and it serves exactly that image.
    page.get_by_role("button", name="Copy URL").click()
    expect(page.locator("#copy-status")).to_have_text("URL copied.")
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied == url_field.input_value()
    assert copied.endswith(f"/{key}")
    status, headers, body = http(copied)
    assert status == 200
    assert headers["Content-Type"] == "image/webp"
    assert images.size_of(body) == (320, 240)
    assert images.loader_of(body).startswith("webpload")

    # The <img srcset sizes> snippet: 1x and 2x, both real.
    snippet = page.get_by_label("HTML (1x and 2x)")
    expect(snippet).to_have_value(re.compile(r"320w, .+ 640w"))
    page.get_by_role("button", name="Copy HTML").click()
    expect(page.locator("#copy-status")).to_have_text("HTML copied.")
    html = page.evaluate("() => navigator.clipboard.readText()")
    assert html == snippet.input_value()
    assert 'sizes="(max-width: 320px) 100vw, 320px"' in html
    assert 'width="320"' in html
    assert 'height="240"' in html
    assert 'alt="harbour at dusk"' in html
    url_2x = re.search(r"(\S+) 640w", html)
    assert url_2x
    status, headers, body = http(url_2x.group(1))
    assert (status, images.size_of(body)) == (200, (640, 480))
    # Focus leaving a field ("change" with nothing changed) does not re-render.
    expect(page.locator("#preview-info")).to_contain_text("320 × 240 px · image/webp")
    page.screenshot(path=str(artifacts / "console-builder.png"), full_page=True)

    # Delete, with confirmation: gone from the gallery, the API and the image route.
    page.get_by_role("button", name="Delete image…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(key)
    dialog.get_by_role("button", name="Delete").click()
    expect(page.locator("#notice")).to_have_text(f"Deleted {key}.")
    expect(page.locator("#detail")).to_be_hidden()
    expect(tiles).to_have_count(1)
    expect(tiles.first).to_contain_text("logo-")
    assert http(f"{server.url}/image/{key}/metadata", AUTH)[0] == 404
    assert http(copied)[0] == 404
    listed = json.loads(http(f"{server.url}/images", AUTH)[2])
    assert [item["key"] for item in listed["items"]] == [tiles.first.get_attribute("data-key")]

    # Sign out forgets the token.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("() => sessionStorage.length") == 0


def test_rejected_uploads_show_the_servers_reason(page: Page, server: Server) -> None:
    sign_in(page, server, "not-the-token")
    expect(page.get_by_role("alert")).to_have_text(
        "That token was refused: it is not one of the server's upload tokens."
    )
    assert page.evaluate("() => sessionStorage.length") == 0
    page.get_by_label("Upload token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Upload")).to_be_visible()

    # Dropped files: one is not an image, one is over upload.max_bytes, one is fine.
    drop_files(
        page,
        [
            ("notes.jpg", b"these are my notes, not a photo\n" * 20, "image/jpeg"),
            ("huge.jpg", os.urandom(MAX_UPLOAD + 100_000), "image/jpeg"),
            ("fine.jpg", images.jpeg(64, 48), "image/jpeg"),
        ],
    )
    rows = page.locator("#uploads li")
    expect(rows).to_have_count(3)
    notes, huge, fine = (rows.filter(has_text=name) for name in ("notes.jpg", "huge.jpg", "fine.jpg"))
    expect(notes).to_have_attribute("data-state", "failed")
    expect(notes).to_contain_text("Failed: source is not a supported image format")
    expect(huge).to_have_attribute("data-state", "failed")
    expect(huge).to_contain_text(f"over the limit of {MAX_UPLOAD}")
    expect(fine).to_have_attribute("data-state", "done")
    expect(page.locator("#grid li")).to_have_count(1)

    # The token stops working mid-session (rotated on the server): the file's row says so.
    page.evaluate("() => sessionStorage.setItem('imgserver.console.token', 'rotated-away')")
    page.locator("#file-input").set_input_files([file_payload("late.jpg", images.jpeg(64, 48), "image/jpeg")])
    late = page.locator("#uploads li").filter(has_text="late.jpg")
    expect(late).to_have_attribute("data-state", "failed")
    expect(late).to_contain_text("Failed: unknown token (sign out and sign in again")
    # The next call signs the tab out, with the reason.
    page.get_by_label("Key prefix").fill("x")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("the server refused the token (unknown token)")
    assert page.evaluate("() => sessionStorage.length") == 0


def test_phone_width_and_keyboard_only(phone: Page, server: Server, artifacts: Path) -> None:
    page = phone
    page.goto(f"{server.url}/console")
    # Sign in with the keyboard alone.
    expect(page.get_by_label("Upload token")).to_be_focused()
    page.keyboard.type(TOKEN)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Upload")).to_be_focused()
    no_horizontal_scroll(page)

    page.locator("#file-input").set_input_files(
        [file_payload("Portrait.jpg", images.jpeg(600, 900, orientation=6), "image/jpeg")]
    )
    expect(page.locator("#uploads li")).to_have_attribute("data-state", "done")
    tile_link = page.locator("#grid li a")
    expect(tile_link).to_have_count(1)
    expect(tile_link).to_contain_text("900×600")  # EXIF orientation applied
    no_horizontal_scroll(page)

    # Tab from the search field reaches the tile; Enter opens it; focus lands on its title.
    page.get_by_label("Key prefix").focus()
    page.keyboard.press("Tab")
    expect(tile_link).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#detail-title")).to_be_focused()
    expect(page.locator("#preview-info")).to_contain_text("450 × 300 px · image/jpeg")
    no_horizontal_scroll(page)
    # On a phone the controls follow the preview, in one column.
    preview_box = page.locator("#preview").bounding_box()
    width_box = page.get_by_label("Width").bounding_box()
    assert preview_box and width_box and width_box["y"] > preview_box["y"]
    assert width_box["x"] + width_box["width"] <= 390

    # Change a control by keyboard: the preview follows.
    page.get_by_label("Width").focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("200")
    expect(page.locator("#preview-info")).to_contain_text("200 × 133 px")
    # Back with the keyboard: focus returns to the tile that was opened.
    page.get_by_role("link", name="← All images").focus()
    page.keyboard.press("Enter")
    expect(tile_link).to_be_focused()
    page.screenshot(path=str(artifacts / "console-phone.png"), full_page=True)

    # Every image has alt text; only the decorative logo has an empty one.
    missing = page.evaluate("() => [...document.images].filter((i) => !i.hasAttribute('alt')).length")
    assert missing == 0
    empty = page.evaluate("() => [...document.images].filter((i) => i.alt === '').map((i) => i.id || i.src)")
    assert all(src.endswith("/console/icon.svg") or src == "preview" for src in empty)
