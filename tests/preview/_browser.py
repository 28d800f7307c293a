"""Headless Chromium (Debian's chromium + chromium-driver) driving the dashboards' preview.

Also the README's pictures, from a running ``mlscope demo``:
``python -m tests.preview._browser --url http://127.0.0.1:3001 --from now-20m --out docs/img``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

WIDTH = 1280  # wide enough for two half-width panels side by side, narrow enough to read scaled down


@contextmanager
def chromium(chromium_bin: str, chromedriver_bin: str) -> Iterator[webdriver.Chrome]:
    """A headless Chromium session, closed when the block ends."""
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium_bin
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--hide-scrollbars", f"--window-size={WIDTH},900", "--force-device-scale-factor=1"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(chromedriver_bin), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


def load(driver: webdriver.Chrome, url: str, timeout_s: float = 60.0) -> list[dict[str, Any]]:
    """Open ``url``, wait until every panel is drawn; each panel's title, type, state, message."""
    driver.set_window_size(WIDTH, 900)
    driver.get(url)
    deadline = time.monotonic() + timeout_s
    while driver.execute_script("return document.body.dataset.ready") != "1":
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not finish drawing within {timeout_s:.0f}s")
        time.sleep(0.2)
    panels: list[dict[str, Any]] = driver.execute_script(
        "return [...document.querySelectorAll('section.panel')].map(e => ({title: e.dataset.title,"
        " type: e.dataset.type, state: e.dataset.state,"
        " message: e.querySelector('.message') ? e.querySelector('.message').textContent : null}))")
    return panels


def texts(driver: webdriver.Chrome, title: str, selector: str) -> list[str]:
    """The text of the elements matching ``selector`` inside the panel titled ``title``."""
    found: list[str] = driver.execute_script(
        "const panel = `section.panel[data-title=\"${arguments[0]}\"]`;"
        "return [...document.querySelectorAll(`${panel} ${arguments[1]}`)].map(e => e.textContent)",
        title, selector)
    return found


def row_titles(driver: webdriver.Chrome) -> list[str]:
    titles: list[str] = driver.execute_script(
        "return [...document.querySelectorAll('section.row h2')].map(e => e.textContent)")
    return titles


def screenshot(driver: webdriver.Chrome, path: Path) -> Path:
    """The whole page (the window grown to its height) as a PNG."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(WIDTH, height)
    time.sleep(1.0)  # plotly redraws its responsive plots after the resize
    driver.save_screenshot(str(path))
    return path


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Screenshots of the dashboards' preview of a running demo")
    p.add_argument("--url", default="http://127.0.0.1:3001")
    p.add_argument("--from", dest="start", default="now-20m")
    p.add_argument("--out", default="docs/img")
    p.add_argument("--uid", action="append", default=[], help="dashboard uid (default: all)")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    args = p.parse_args(argv)
    uids = args.uid or [path.stem for path in sorted(Path("grafana/dashboards").glob("*.json"))]
    with chromium(args.chromium, args.chromedriver) as driver:
        for uid in uids:
            panels = load(driver, f"{args.url}/d/{uid}?from={args.start}")
            print(uid, [(x["title"], x["state"]) for x in panels if x["state"] != "ok"])
            print(screenshot(driver, Path(args.out) / f"{uid}.png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
