"""Headless Chromium (Debian's `chromium`) driven over the DevTools
protocol on a pipe (`--remote-debugging-pipe`: NUL-separated JSON on file
descriptors 3 and 4), so tests load pages, click links and take screenshots
in a real browser without a websocket library or any JavaScript of ours.
Every wait is bounded; a page that never loads fails the test with what
was waited for."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WAIT = 60  # seconds any one answer or page load may take


class Chromium:
    def __init__(self, width: int = 1000, height: int = 700):
        assert CHROMIUM, "Debian's chromium is needed (.ci/setup installs it)"
        self.profile = tempfile.mkdtemp(prefix="strata-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        # Move the child's ends above 4, so placing them at 3 and 4
        # cannot overwrite one with the other.
        a = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)
        b = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
        os.close(to_child_r)
        os.close(from_child_w)

        def fds():
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-extensions", "--remote-debugging-pipe", f"--user-data-dir={self.profile}",
             f"--window-size={width},{height}", "about:blank"],
            preexec_fn=fds, pass_fds=(3, 4), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(a)
        os.close(b)
        self._buf = b""
        self._next = 0
        self._events: list[dict] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget",
                                 {"targetId": target, "flatten": True})["sessionId"]
        self.call("Page.enable", session=self.session)
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                  session=self.session)

    def _read(self) -> dict:
        while b"\0" not in self._buf:
            ready, _, _ = select.select([self._from_child], [], [], WAIT)
            assert ready, f"chromium sent nothing for {WAIT} s"
            chunk = os.read(self._from_child, 1 << 20)
            assert chunk, "chromium closed its DevTools pipe"
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next += 1
        msg = {"id": self._next, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        while True:
            m = self._read()
            if m.get("id") == self._next:
                assert "error" not in m, f"{method}: {m['error']}"
                return m["result"]
            if "method" in m:
                self._events.append(m)

    def wait_event(self, method: str) -> dict:
        for _ in range(10_000):
            for i, e in enumerate(self._events):
                if e["method"] == method:
                    return self._events.pop(i)
            self._events.append(self._read())
        raise AssertionError(f"no {method} from chromium")

    def page(self, method: str, params: dict | None = None) -> dict:
        return self.call(method, params, session=self.session)

    def goto(self, url: str) -> None:
        self._events.clear()
        r = self.page("Page.navigate", {"url": url})
        assert "errorText" not in r, f"{url}: {r['errorText']}"
        self.wait_event("Page.loadEventFired")

    def url(self) -> str:
        h = self.page("Page.getNavigationHistory")
        return h["entries"][h["currentIndex"]]["url"]

    def html(self) -> str:
        root = self.page("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
        return self.page("DOM.getOuterHTML", {"nodeId": root})["outerHTML"]

    def click(self, selector: str) -> None:
        """Clicks the middle of the first element `selector` matches, as a
        user would, and waits for the page it leads to."""
        root = self.page("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
        node = self.page("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        assert node, f"nothing matches {selector!r}"
        quad = self.page("DOM.getBoxModel", {"nodeId": node})["model"]["border"]
        x = sum(quad[0::2]) / 4
        y = sum(quad[1::2]) / 4
        self._events.clear()
        for kind in ("mousePressed", "mouseReleased"):
            self.page("Input.dispatchMouseEvent",
                      {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})
        self.wait_event("Page.loadEventFired")

    def screenshot(self) -> bytes:
        return base64.b64decode(self.page("Page.captureScreenshot", {"format": "png"})["data"])

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (AssertionError, OSError):
            pass
        try:
            self.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_child)
        os.close(self._from_child)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit, non-interlaced
    RGB or RGBA PNG, what Chromium writes."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, [r if bpp == 3 else bytes(v for j, v in enumerate(r) if j % 4 != 3)
                           for r in rows]


def colours_in(data: bytes, box: tuple[int, int, int, int]) -> set[tuple[int, int, int]]:
    """The distinct RGB colours inside box = (x0, y0, x1, y1) of a PNG."""
    _, _, rows = png_pixels(data)
    x0, y0, x1, y1 = box
    return {tuple(rows[y][x * 3:x * 3 + 3]) for y in range(y0, y1) for x in range(x0, x1)}


def save(data: bytes, path: Path) -> Path:
    Path(path).write_bytes(data)
    return Path(path)
