"""Drive ``picscribe ui`` in a real headless Chromium (Debian's, via its chromedriver).

Shared by tests/test_ui_browser.py and bench/ui_latency.py. Selenium is told
where the browser and driver are, so it never downloads either.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
QUERY_BOX = "input[aria-label='Describe the photo you are looking for']"

# Which thumbnails of the grid are loaded, and the summary line: the grid is
# "rendered" when the summary names the query and every thumbnail has pixels.
_GRID_STATE_JS = """
const summary = document.querySelector('.st-key-results-summary');
const imgs = [...document.querySelectorAll('.st-key-results-grid img')];
return {
  summary: summary ? summary.innerText : '',
  alts: imgs.map(i => i.alt),
  loaded: imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0),
};
"""


# Each result card (the bordered block around a thumbnail): [top, height] in pixels.
_CARD_BOXES_JS = """
const bordered = el => el.getAttribute('data-testid') === 'stVerticalBlock'
  && getComputedStyle(el).borderTopStyle !== 'none' && getComputedStyle(el).borderTopWidth !== '0px';
return [...document.querySelectorAll('.st-key-results-grid img')].map(img => {
  let el = img.parentElement;
  while (el && !bordered(el)) el = el.parentElement;
  const r = (el || img).getBoundingClientRect();
  return [Math.round(r.top), Math.round(r.height), el !== null];
});
"""


def card_rows(driver: Any) -> list[list[int]]:
    """The heights of the result cards, one list per row of the grid (cards sharing a top edge)."""
    rows: dict[int, list[int]] = {}
    for top, height, found in driver.execute_script(_CARD_BOXES_JS):
        assert found, "a result card without its bordered block"
        rows.setdefault(top, []).append(height)
    return [rows[top] for top in sorted(rows)]


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        return f"needs Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER})"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "needs selenium (pip install -e '.[dev]')"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@contextmanager
def running_ui(home: Path, log: Path, timeout: float = 90) -> Iterator[str]:
    """``picscribe --home HOME ui`` on a free port; yields its URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "picscribe", "--home", str(home), "ui", "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: _healthy(url) or proc.poll() is not None, timeout, "the UI server")
            if proc.poll() is not None:
                raise RuntimeError(f"picscribe ui exited with {proc.returncode}:\n{log.read_text()}")
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def chromium(profile: Path) -> Iterator[Any]:  # a selenium WebDriver (selenium's types are not checked)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def open_search(driver: Any, url: str, timeout: float = 90) -> Any:
    """Load the app and return its query box once it is ready for input."""
    from selenium.webdriver.common.by import By

    driver.get(url)
    return wait_until(
        lambda: next(iter(driver.find_elements(By.CSS_SELECTOR, QUERY_BOX)), None), timeout, "the query box"
    )


def submit_query(driver: Any, box: Any, query: str, timeout: float = 60) -> tuple[float, list[str]]:
    """Type ``query``, press Enter; return (seconds from Enter to the grid
    rendered with every thumbnail loaded, file names in grid order)."""
    from selenium.webdriver.common.keys import Keys

    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.BACKSPACE)
    box.send_keys(query)
    started = time.perf_counter()
    box.send_keys(Keys.ENTER)

    def rendered() -> dict[str, Any] | None:
        state = driver.execute_script(_GRID_STATE_JS)
        return state if f"“{query}”" in state["summary"] and state["loaded"] else None

    state = wait_until(rendered, timeout, f"results for {query!r}", interval=0.01)
    return time.perf_counter() - started, [a.split(":")[0] for a in state["alts"]]
