"""`picscribe ui` end to end: a real server, a real headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from support.cli import Run
from support.paths import SAMPLES
from support.ui_browser import browser_missing, card_rows, chromium, open_search, running_ui, submit_query, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

_missing = browser_missing()
if _missing and os.environ.get("PICSCRIBE_REQUIRE_BROWSER") != "1":
    pytest.skip(f"browser test skipped: {_missing}", allow_module_level=True)


@pytest.fixture
def sample_index(run: Run, tmp_path: Path, home: Path) -> Path:
    """data/samples indexed from the captions people wrote for them (sidecar
    files), so the expected hit is known without running a captioning model.
    Plus link.jpg: a symlink to a photo outside the library, captioned to be
    the best match for the test's query."""
    assert _missing is None, _missing  # CI sets PICSCRIBE_REQUIRE_BROWSER=1: no quiet skip there
    photos = tmp_path / "samples"
    shutil.copytree(SAMPLES, photos)
    for line in (SAMPLES.parent / "captions.jsonl").read_text().splitlines():
        record = json.loads(line)
        (photos / Path(record["file"]).name).with_suffix(".txt").write_text(record["captions"][0])
    Image.new("RGB", (320, 240), (180, 120, 60)).save(tmp_path / "secret.jpg")
    (photos / "link.jpg").symlink_to(tmp_path / "secret.jpg")
    (photos / "link.txt").write_text("a pizza on a plate")
    result = run("index", str(photos), "--captioner", "sidecar", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["captioned"] == 27
    return photos


def _text(driver: Any) -> str:
    return driver.execute_script("return document.body.innerText")


def _images(driver: Any) -> int:
    return int(driver.execute_script("return document.querySelectorAll('[data-testid=stImage] img').length"))


def test_search_in_a_real_browser(sample_index: Path, home: Path, tmp_path: Path) -> None:
    with running_ui(home, tmp_path / "ui.log") as url, chromium(tmp_path / "profile") as driver:
        box = open_search(driver, url)
        _seconds, shown = submit_query(driver, box, "pizza on a plate")
        assert shown[0] == "000000121647.jpg"
        assert "link.jpg" not in shown  # the best match by its caption, but outside the library
        # Cards in a row are equally tall, whatever the length of their captions.
        rows = card_rows(driver)
        assert rows and all(max(row) - min(row) <= 1 for row in rows), rows
        shot = tmp_path / "search.png"
        assert driver.save_screenshot(str(shot))
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000

        # The detail page of a hit, by the link the Details button makes.
        driver.get(f"{url}/?image={urllib.parse.quote(str(sample_index / '000000121647.jpg'))}")
        wait_until(lambda: "Find similar" in _text(driver) and _images(driver), 60, "the detail page")
        assert "Alt text" in _text(driver)

        # Crafted paths in the link get the same refusal and no image.
        # (More spellings are refused in test_ui_pages; each page load here costs a second.)
        for crafted in (f"{sample_index}/../secret.jpg", "/etc/passwd", str(sample_index / "link.jpg")):
            driver.get(f"{url}/?image={urllib.parse.quote(crafted)}")
            wait_until(lambda: "This image is not in the index." in _text(driver), 60, f"refusal of {crafted}")
            assert not _images(driver)

        # Nor does the server hand out files by URL.
        for probe in (
            "/media/../../../../etc/passwd",
            "/app/static/../../../../etc/passwd",
            "/media/%2e%2e/%2e%2e/etc/passwd",
        ):
            try:
                with urllib.request.urlopen(url + probe, timeout=10) as r:
                    body = r.read()
            except urllib.error.HTTPError as exc:
                assert exc.code in (400, 403, 404), probe
            else:
                assert b"root:" not in body, probe
