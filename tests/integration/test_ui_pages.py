"""Each page of the web UI, run by Streamlit's AppTest on a real index."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block, Element
from support.cli import Run, index_json
from support.paths import SAMPLES

from picscribe.cli import main
from picscribe.indexer import Indexer
from picscribe.store import Store
from picscribe.ui import APP_PATH

# The first run loads the embedding model; later ones reuse it.
TIMEOUT = 120


def _four_photos(root: Path) -> Path:
    for folder, name, rgb in [
        ("a", "red.png", (200, 40, 40)),
        ("a", "blue.png", (40, 70, 200)),
        ("b", "green.png", (40, 160, 60)),
        ("b", "yellow.png", (230, 210, 40)),
    ]:
        (root / folder).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (64, 48), rgb).save(root / folder / name)
    return root


@pytest.fixture
def library(tmp_path: Path) -> Path:
    return _four_photos(tmp_path / "library")


@pytest.fixture
def indexed(run: Run, library: Path) -> Path:
    assert index_json(run, str(library))[0] == 0
    return library


@pytest.fixture(scope="module")
def _shared_index(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> tuple[Path, Path]:
    """(home, library): the four photos indexed once for every test that only reads them."""
    base = tmp_path_factory.mktemp("shared-index")
    home, library = base / "home", _four_photos(base / "library")
    # Made before any test's own environment: set what isolated_env would.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PICSCRIBE_HOME", str(home))
        env.setenv("PICSCRIBE_CACHE", str(model_cache))
        env.setenv("HF_HUB_OFFLINE", "1")
        env.setenv("TRANSFORMERS_OFFLINE", "1")
        for var in ("PICSCRIBE_CAPTIONER", "PICSCRIBE_VLM", "PICSCRIBE_DEVICE", "PICSCRIBE_EMBEDDER"):
            env.delenv(var, raising=False)
        result = CliRunner().invoke(main, ["index", str(library), "--captioner", "fake"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return home, library


@pytest.fixture
def indexed_read_only(_shared_index: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shared index and its photos. Only for a test that changes neither (no edits,
    no indexing, no new files): the next test that reads them expects them as they were."""
    home, library = _shared_index
    monkeypatch.setenv("PICSCRIBE_HOME", str(home))
    return library


def _app(**query_params: str) -> AppTest:
    at = AppTest.from_file(str(APP_PATH), default_timeout=TIMEOUT)
    for key, value in query_params.items():
        at.query_params[key] = value
    return at.run()


def _value(node: Element | Block) -> object:
    assert isinstance(node, Element), node  # text elements, never a container
    return node.value


def _no_errors(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _shown(at: AppTest) -> list[str]:
    """File names of the thumbnails, in grid order (the alt text starts with it)."""
    return [img.proto.imgs[0].alt.split(":")[0] for img in at.get("image")]


def _search(at: AppTest, query: str) -> AppTest:
    at.text_input(key="q").input(query).run()
    _no_errors(at)
    return at


def test_no_index_says_how_to_make_one(home: Path) -> None:
    at = _app()
    _no_errors(at)
    assert "No index yet" in at.info[0].value
    assert at.code[0].value.startswith(f"picscribe --home {home} index")
    assert not at.get("image")


def test_search_shows_a_grid_with_captions_scores_count_and_time(indexed_read_only: Path) -> None:
    at = _app()
    _no_errors(at)
    assert "4 photos indexed" in at.caption[0].value
    _search(at, "a picture that is mostly red")
    shown = _shown(at)
    assert shown[0] == "red.png" and sorted(shown) == ["blue.png", "green.png", "red.png", "yellow.png"]
    summary = at.caption[0].value
    assert summary.startswith("4 results for “a picture that is mostly red” in ") and summary.endswith(" ms")
    # The caption under the first thumbnail, the query's words in it in bold.
    assert at.markdown[0].value.endswith(r" **picture** that is **mostly** **red**\.")
    assert "score 0." in at.caption[1].value


def test_a_page_of_cards_then_show_more(run: Run, tmp_path: Path) -> None:
    many = tmp_path / "many"
    many.mkdir()
    for i in range(30):
        Image.new("RGB", (32, 32), (8 * i, 90, 160)).save(many / f"p{i:02}.png")
    assert index_json(run, str(many))[0] == 0
    at = _search(_app(), "picture")
    assert len(_shown(at)) == 24 and "more below" in at.caption[0].value
    at.button(key="more").click().run()
    _no_errors(at)
    assert sorted(_shown(at)) == [f"p{i:02}.png" for i in range(30)]
    assert not at.get("button") or "more" not in [b.key for b in at.button]
    _search(at, "a picture that is mostly blue")  # a new search starts at one page again
    assert len(_shown(at)) == 24


def test_thumbnails_are_cached_on_disk_not_redecoded(
    indexed: Path, model_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    real_open = Image.open

    def counting_open(fp, *args, **kwargs):
        path = str(getattr(fp, "name", fp))  # thumbnails open a checked file object, not the path
        if path.startswith(str(indexed)):
            opened.append(path)
        return real_open(fp, *args, **kwargs)

    monkeypatch.setattr(Image, "open", counting_open)
    at = _search(_app(), "mostly blue")
    assert sorted(Path(p).name for p in opened) == ["blue.png", "green.png", "red.png", "yellow.png"]
    thumbs = sorted((model_cache / "thumbnails").rglob("*.jpg"))
    assert len(thumbs) >= 4
    opened.clear()
    _search(at, "mostly green")
    assert sorted(_shown(at)) == ["blue.png", "green.png", "red.png", "yellow.png"]
    _search(_app(), "mostly yellow")  # a new session, same server: still on disk
    assert opened == []


def test_no_results_state(indexed_read_only: Path) -> None:
    at = _app()
    at.checkbox(key="f_text").check().run()
    _search(at, "mostly red")
    assert "No photos match" in at.warning[0].value
    assert not at.get("image")


def test_folder_and_captioner_filters(run: Run, indexed: Path, tmp_path: Path) -> None:
    people = tmp_path / "people"
    people.mkdir()
    Image.new("RGB", (40, 60), (190, 30, 50)).save(people / "aunt.png")
    (people / "aunt.txt").write_text("my aunt in a red coat")
    assert run("index", str(people), "--captioner", "sidecar").exit_code == 0
    at = _app()
    at.selectbox(key="f_folder").select(str(indexed / "b")).run()
    assert sorted(_shown(_search(at, "mostly red"))) == ["green.png", "yellow.png"]
    at.selectbox(key="f_folder").select("All").run()
    options = at.selectbox(key="f_captioner").options
    assert any(o.startswith("sidecar (sidecar-v1)") for o in options), options
    sidecar = next(o for o in options if o.startswith("sidecar (sidecar-v1)"))
    at.selectbox(key="f_captioner").select(sidecar).run()
    _no_errors(at)
    assert _shown(at) == ["aunt.png"]


def test_date_filter(run: Run, library: Path) -> None:
    # No EXIF in these: the file time stands in for the capture date.
    os.utime(library / "a" / "red.png", (1_500_000_000, 1_500_000_000))  # 2017-07-14
    assert index_json(run, str(library))[0] == 0
    at = _app()
    at.date_input(key="f_from").set_value(dt.date(2017, 7, 1)).run()
    at.date_input(key="f_to").set_value(dt.date(2017, 7, 31)).run()
    assert _shown(_search(at, "picture")) == ["red.png"]


def test_detail_page_shows_captions_alt_text_tags_and_finds_similar(indexed_read_only: Path) -> None:
    red = str(indexed_read_only / "a" / "red.png")
    at = _app(image=red)
    _no_errors(at)
    assert at.title[0].value == "red\\.png"
    assert at.get("image")[0].proto.imgs[0].alt == "An evenly lit landscape picture that is mostly red."
    editable = at.text_area(key="edit-text").value
    assert editable is not None and "mostly red" in editable
    assert at.code[0].value == "An evenly lit landscape picture that is mostly red."  # alt text, with a copy button
    assert any("`red`" in m.value and "Tags" in m.value for m in at.markdown)
    assert any("64 × 48 px" in m.value for m in at.markdown)
    at.button(key="similar").click().run()
    _no_errors(at)
    assert "image" not in at.query_params
    assert at.title[0].value.startswith("Photos like red")
    shown = _shown(at)
    assert sorted(shown) == ["blue.png", "green.png", "yellow.png"]


@pytest.mark.parametrize("crafted", ["{root}/a/../b/green.png", "/etc/passwd", "a/red.png", "{root}/a/nope.png"])
def test_detail_page_refuses_crafted_paths(indexed_read_only: Path, crafted: str) -> None:
    at = _app(image=crafted.format(root=indexed_read_only))
    _no_errors(at)
    assert at.error[0].value == "This image is not in the index."
    assert not at.get("image")


def test_editing_a_caption_stores_human_text_that_search_finds(indexed: Path, home: Path) -> None:
    blue = str(indexed / "a" / "blue.png")
    at = _app(image=blue)
    at.text_area(key="edit-text").input("our sailboat on the lake at dawn")
    at.button[[b.label for b in at.button].index("Save caption")].click().run()
    _no_errors(at)
    assert "Saved" in at.success[0].value
    assert any("Written by a person" in c.value for c in at.caption)
    with Store.open(home, create=False) as store:
        detail = store.image_detail(blue)
        assert detail is not None and detail.current is not None
        assert detail.current.human and detail.current.text == "our sailboat on the lake at dawn"
    at.query_params.pop("image")
    at.run()
    assert _shown(_search(at, "sailboat on a lake"))[0] == "blue.png"


def test_ask_with_a_captioner_that_cannot_answer_says_so(indexed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICSCRIBE_CAPTIONER", "fake")
    at = _app(image=str(indexed / "a" / "red.png"))
    at.text_input(key="question").input("what colour is it?")
    at.button[[b.label for b in at.button].index("Ask")].click().run()
    _no_errors(at)
    assert "cannot answer questions" in at.warning[0].value


def test_status_counts_failures_and_watcher(indexed: Path, run: Run) -> None:
    (indexed / "b" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    index_json(run, str(indexed))
    at = _app(view="status")
    _no_errors(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Images": "5", "Captioned": "4", "Failed": "1"}
    tables = at.table
    assert tables[0].value.to_dict("records") == [{"captioner": "fake", "model": "fake-v1", "images": 4}]
    (failure,) = tables[1].value.to_dict("records")
    assert failure["file"] == str(indexed / "b" / "broken.jpg") and "Truncated" in failure["error"]
    assert any(m.value == "**watcher\\: never run**" for m in at.markdown), [m.value for m in at.markdown]


def test_status_index_button_indexes_a_folder_with_progress(indexed: Path) -> None:
    more = indexed / "more"
    more.mkdir()
    for i in range(20):
        Image.new("RGB", (32, 32), (10 * i, 100, 200)).save(more / f"m{i:02}.png")
    at = _app(view="status")
    at.text_input(key="index-folder").input(str(more))
    at.selectbox(key="index-captioner").set_value("fake")
    at.button[[b.label for b in at.button].index("Index folder")].click().run()
    _no_errors(at)
    assert at.success[0].value.startswith("20 captioned")
    assert at.get("progress")[0].proto.text == "Done: 20 photos"
    at.run()
    assert {m.label: m.value for m in at.metric}["Images"] == "24"


def test_status_index_button_is_one_indexer_run_whose_progress_reaches_its_total(
    indexed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No stepping through update() and no second scan: one index() call, its events driving the bar."""
    more = indexed / "more"
    more.mkdir()
    for i in range(20):
        Image.new("RGB", (32, 32), (10 * i, 100, 200)).save(more / f"m{i:02}.png")
    runs: list[list[str]] = []
    updates: list[object] = []
    heard: list[tuple[str, int]] = []
    real_index = Indexer.index

    class Listening:
        def __init__(self, inner: object) -> None:
            self.inner = inner

        def on_total(self, total: int) -> None:
            heard.append(("total", total))
            self.inner.on_total(total)  # type: ignore[attr-defined]

        def on_file(self, path: str, outcome: str) -> None:
            heard.append(("file", 1))
            self.inner.on_file(path, outcome)  # type: ignore[attr-defined]

        def on_batch(self, report: object) -> None:
            self.inner.on_batch(report)  # type: ignore[attr-defined]

    def spy_index(self: Indexer, roots: list[Path], **kwargs: object) -> object:
        runs.append([str(r) for r in roots])
        assert kwargs.get("progress") is not None
        return real_index(self, roots, **{**kwargs, "progress": Listening(kwargs["progress"])})  # type: ignore[arg-type]

    monkeypatch.setattr(Indexer, "index", spy_index)
    monkeypatch.setattr(Indexer, "update", lambda self, *a, **k: updates.append(a))
    at = _app(view="status")
    at.text_input(key="index-folder").input(str(more))
    at.selectbox(key="index-captioner").set_value("fake")
    at.button[[b.label for b in at.button].index("Index folder")].click().run()
    _no_errors(at)
    assert at.success[0].value.startswith("20 captioned")
    assert runs == [[str(more)]] and updates == []
    assert heard[0] == ("total", 20) and heard.count(("file", 1)) == 20
    assert at.get("progress")[0].proto.text == "Done: 20 photos"


def test_status_reindex_button_switches_search_to_the_new_captioner(
    indexed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PICSCRIBE_CAPTIONER", "fake:v2")  # the configured captioner is the first choice
    at = _app(view="status")
    assert at.selectbox(key="index-captioner").value == "fake:v2"
    at.button[[b.label for b in at.button].index("Re-index all with this captioner")].click().run()
    _no_errors(at)
    assert at.success[0].value == "4 captioned, 0 failed; search now uses it."
    at.run()
    assert at.table[0].value.to_dict("records") == [{"captioner": "fake", "model": "fake-v2", "images": 4}]


def test_status_index_button_makes_the_first_index(home: Path, library: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No index yet, so no recorded roots: config.toml's roots (read by the UI's Library) say where.
    home.mkdir(parents=True)
    (home / "config.toml").write_text(f"roots = {json.dumps([str(library)])}\n")
    at = _app(view="status")
    assert "No index yet" in at.info[0].value
    at.text_input(key="index-folder").input(str(library))
    at.selectbox(key="index-captioner").set_value("fake")
    at.button[[b.label for b in at.button].index("Index folder")].click().run()
    _no_errors(at)
    assert at.success[0].value.startswith("4 captioned")
    # The first index is made: the banner saying there is none goes at once, not at the next click.
    assert not any("No index yet" in info.value for info in at.info)
    at.query_params["view"] = "search"
    at.run()
    assert _shown(_search(at, "mostly green"))[0] == "green.png"


def _outside_folder(tmp_path: Path) -> Path:
    """A folder nobody added to the library, holding a photo a browser must never get."""
    outside = tmp_path / "outside"
    outside.mkdir()
    Image.new("RGB", (64, 48), (90, 90, 90)).save(outside / "secret.png")
    return outside


def _index_from_status_page(at: AppTest, folder: Path) -> AppTest:
    at.text_input(key="index-folder").input(str(folder))
    at.selectbox(key="index-captioner").set_value("fake")
    at.button[[b.label for b in at.button].index("Index folder")].click().run()
    _no_errors(at)
    return at


def test_status_index_button_refuses_a_folder_outside_the_library(indexed: Path, tmp_path: Path, home: Path) -> None:
    outside = _outside_folder(tmp_path)
    at = _index_from_status_page(_app(view="status"), outside)
    assert "outside the library" in at.error[0].value and "--allow-index-anywhere" in at.error[0].value
    assert not at.success
    with Store.open(home, create=False) as store:
        assert not [p for p in store.ok_paths() if p.startswith(str(outside))]
        assert store.library_roots() == (str(indexed),)
    secret = _app(image=str(outside / "secret.png"))
    assert secret.error[0].value == "This image is not in the index." and not secret.get("image")


def test_status_index_button_refuses_a_symlink_out_of_the_library(indexed: Path, tmp_path: Path) -> None:
    outside = _outside_folder(tmp_path)
    (indexed / "link").symlink_to(outside, target_is_directory=True)
    at = _index_from_status_page(_app(view="status"), indexed / "link")
    assert "outside the library" in at.error[0].value and not at.success


def test_status_index_button_indexes_anywhere_when_the_server_allows_it(
    indexed: Path, tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PICSCRIBE_UI_ALLOW_INDEX_ANYWHERE", "1")  # picscribe ui --allow-index-anywhere
    outside = _outside_folder(tmp_path)
    at = _index_from_status_page(_app(view="status"), outside)
    assert at.success[0].value.startswith("1 captioned")
    with Store.open(home, create=False) as store:
        assert store.library_roots() == tuple(sorted([str(indexed), str(outside)]))
    shown = _app(image=str(outside / "secret.png"))
    _no_errors(shown)
    assert shown.title[0].value == "secret\\.png"


def test_status_index_button_indexes_inside_a_config_root(
    indexed: Path, tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configured = tmp_path / "configured"
    configured.mkdir()
    Image.new("RGB", (32, 32), (0, 120, 120)).save(_outside_folder(configured) / "teal.png")
    (home / "config.toml").write_text(f"roots = {json.dumps([str(configured)])}\n")
    at = _index_from_status_page(_app(view="status"), configured / "outside")
    assert at.success[0].value.startswith("2 captioned")
    with Store.open(home, create=False) as store:
        assert str(configured / "outside" / "teal.png") in store.ok_paths()


def test_status_captioner_is_a_choice_of_configured_names(
    indexed_read_only: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PICSCRIBE_CAPTIONER", "offline")
    at = _app(view="status")
    choice = at.selectbox(key="index-captioner")
    assert choice.value == "offline"
    assert {"auto", "fake", "offline", "vlm"} <= set(choice.options)
    assert all(":" not in name for name in choice.options)  # no model, folder or endpoint from the browser
    assert "index-captioner" not in [t.key for t in at.text_input]


@pytest.mark.parametrize(
    "replacement", [b"just some text now\n", b"%PDF-1.4\n% not a photo\n", b"\x89PNG\r\n\x1a\n truncated"]
)
def test_a_file_changed_since_indexing_is_said_so_not_a_traceback(indexed: Path, replacement: bytes) -> None:
    red = indexed / "a" / "red.png"
    red.write_bytes(replacement)
    at = _app(image=str(red))
    _no_errors(at)
    assert "changed since it was indexed" in at.warning[0].value
    assert not at.get("image")
    shown = [_value(e) for kind in ("markdown", "caption", "warning", "error", "title") for e in at.get(kind)]
    assert not [text for text in shown if "site-packages" in str(text) or "Traceback" in str(text)]
    grid = _search(_app(), "mostly red")
    assert any("changed since it was indexed" in m.value for m in grid.markdown)


@pytest.mark.slow  # loads the offline models (3 s) for one answer
def test_ask_with_the_offline_captioner(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    pizza = photos / "pizza.jpg"
    pizza.write_bytes((SAMPLES / "000000121647.jpg").read_bytes())
    assert index_json(run, str(photos))[0] == 0
    monkeypatch.setenv("PICSCRIBE_CAPTIONER", "offline")
    at = _app(image=str(pizza))
    at.text_input(key="question").input("how many pizzas are there?")
    at.button[[b.label for b in at.button].index("Ask")].click().run()
    _no_errors(at)
    assert at.success[0].value == "The detector counts 2 pizzas."
    # What it cannot see, it says so rather than guess.
    at.text_input(key="question").input("what is the man thinking?")
    at.button[[b.label for b in at.button].index("Ask")].click().run()
    assert "needs a vision-language model" in at.warning[0].value


def test_ui_command_binds_to_localhost_without_usage_stats() -> None:
    from picscribe.cli.ui_cmds import streamlit_command

    cmd = streamlit_command("127.0.0.1", 8123)
    flags = dict(zip(cmd[5::2], cmd[6::2], strict=True))  # every flag has its value
    assert cmd[1:4] == ["-m", "streamlit", "run"] and cmd[4] == str(APP_PATH)
    assert flags["--server.address"] == "127.0.0.1" and flags["--server.port"] == "8123"
    assert flags["--browser.gatherUsageStats"] == "false" and flags["--server.headless"] == "true"


def test_ui_command_rejects_a_bad_port(run: Run) -> None:
    result = run("ui", "--port", "70000")
    assert result.exit_code == 2 and "--port" in result.stderr


def test_a_query_in_the_link_is_searched_and_typing_updates_the_link(indexed_read_only: Path) -> None:
    at = _app(q="a picture that is mostly red")
    _no_errors(at)
    assert at.text_input(key="q").value == "a picture that is mostly red"
    assert _shown(at)[0] == "red.png"
    _search(at, "a picture that is mostly blue")
    assert at.query_params["q"] == "a picture that is mostly blue"
    assert _shown(at)[0] == "blue.png"


def test_a_query_nothing_matches_says_so_and_labels_the_cards(indexed_read_only: Path) -> None:
    at = _search(_app(), "ein Hund am Strand")
    assert at.caption[0].value.startswith("No good matches for “ein Hund am Strand”; the closest 4 are below")
    assert all("weak match" in c.value for c in at.caption[1:] if "score" in c.value)
