"""Screenshots of `synthloom view` for the README: the viewer over a data dir (default: a small store
built with the store API, as in the viewer tests), driven by Playwright in Debian's headless Chromium,
timing each page load. Rerun: .venv/bin/python bench/viewer_screenshots.py [--data-dir data]"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flows.viewer import make_server
from tests.flows.viewer.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.flows.viewer.store import build

OUT = Path(__file__).resolve().parent / "screenshots"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--dataset", default="docs")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data_dir / "datasets" if args.data_dir else build(Path(tmp) / "datasets")
        server, sock, url = make_server(root, "127.0.0.1", 0)
        threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            for name, path in [("datasets", "/"), ("version", f"/d/{args.dataset}/v/1")]:
                started = time.perf_counter()
                page.goto(url.rstrip("/") + path)
                print(f"{name}: {1000 * (time.perf_counter() - started):.0f} ms")
                page.screenshot(path=str(OUT / f"viewer-{name}.png"))
            page.locator("a[href*='/rows/']").first.click()
            page.screenshot(path=str(OUT / "viewer-row.png"))
            print(f"row page: {page.url}")
            browser.close()
        server.should_exit = True


if __name__ == "__main__":
    main()
