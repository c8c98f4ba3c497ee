"""The web UI builds through the same ``Library`` as the CLI, so config.toml reaches it whole."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest
from support.plugin_install import install_shout_plugin

from picscribe.store import Store
from picscribe.ui import APP_PATH

if TYPE_CHECKING:
    from support.example_plugin.picscribe_shout import ShoutCaptioner

TIMEOUT = 120


@pytest.fixture
def shout_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> type[ShoutCaptioner]:
    return install_shout_plugin(tmp_path / "site-packages", monkeypatch)


def test_config_toml_reaches_the_ui_indexer_and_captioner(
    shout_plugin: type[ShoutCaptioner], home: Path, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(12):
        Image.new("RGB", (40, 30), (20 * i, 90, 160)).save(photos / f"p{i:02}.png")
    Image.new("RGB", (80, 60), (200, 200, 0)).save(photos / "big.png")  # 4,800 pixels: over max_pixels below
    home.mkdir(parents=True)
    (home / "config.toml").write_text(
        'captioner = "shout"\n'
        "batch_size = 5\n"
        "api_concurrency = 3\n"
        "trust_remote_code = true\n"
        "max_pixels = 2000\n"
        f'roots = ["{photos}"]\n'
    )
    at = AppTest.from_file(str(APP_PATH), default_timeout=TIMEOUT)
    at.query_params["view"] = "status"
    at.run()
    assert at.selectbox(key="index-captioner").value == "shout"  # the configured captioner is the first choice
    at.text_input(key="index-folder").input(str(photos))
    at.button[[b.label for b in at.button].index("Index folder")].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.success[0].value.startswith("12 captioned") and "1 failed" in at.success[0].value

    (captioner,) = shout_plugin.made
    assert captioner.trust_remote_code and captioner.concurrency == 3
    # batch_size = 5 (more than the 3 requests in flight): the UI's indexer sends batches of 5, not its default 8.
    assert max(captioner.batches) == 5 and sum(captioner.batches) == 12, captioner.batches
    with Store.open(home, create=False) as store:
        (failure,) = store.status().failures
    assert failure[0] == str(photos / "big.png") and "max_pixels" in failure[1]
