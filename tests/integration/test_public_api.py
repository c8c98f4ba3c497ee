"""picscribe from Python: ``Library`` and the names ``import picscribe`` exports."""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image
from support.cli import Run, index_json
from support.paths import REPO
from support.plugin_install import PLUGIN, install_shout_plugin

import picscribe
import picscribe.library
from picscribe import Library
from picscribe.indexer import NoProgress

if TYPE_CHECKING:
    from support.example_plugin.picscribe_shout import ShoutCaptioner

PIZZA = "000000121647.jpg"


# -- what is exported ---------------------------------------------------------


def _public_top_level_names(path: Path) -> set[str]:
    """Classes, functions and variables a module defines at its top level, minus _private ones."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return {n for n in names if not n.startswith("_")}


def test_every_public_name_of_the_library_module_is_exported() -> None:
    from picscribe import library

    assert _public_top_level_names(REPO / "picscribe" / "library.py") <= set(picscribe.__all__)
    assert set(picscribe.__all__) == {*library.__all__, "__version__"}
    assert len(picscribe.__all__) == len(set(picscribe.__all__))


def test_type_checkers_see_every_export() -> None:
    # picscribe/__init__.py loads its names lazily; its TYPE_CHECKING import is what a type checker reads.
    tree = ast.parse((REPO / "picscribe" / "__init__.py").read_text())
    (block,) = [n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"]
    imported = {a.name for node in block.body if isinstance(node, ast.ImportFrom) for a in node.names}
    assert imported == set(picscribe.__all__) - {"__version__"}


def test_every_exported_name_resolves_and_star_import_gets_them() -> None:
    for name in picscribe.__all__:
        assert getattr(picscribe, name) is not None, name
    namespace: dict[str, object] = {}
    exec("from picscribe import *", namespace)
    assert set(picscribe.__all__) <= set(namespace)
    with pytest.raises(AttributeError):
        picscribe.NotAName  # noqa: B018


def _classes_in(annotation: object) -> set[type]:
    found = {annotation} if isinstance(annotation, type) else set()
    for arg in typing.get_args(annotation):
        found |= _classes_in(arg)
    return found


def test_every_picscribe_type_in_the_library_signatures_is_exported() -> None:
    exported = {id(getattr(picscribe, n)) for n in picscribe.__all__}
    # picscribe.library loads the indexing, export and Pillow types on first use
    # (its _LAZY names); resolve its signatures as a reader who uses them would.
    lazy = {name: getattr(picscribe.library, name) for name in picscribe.library._LAZY} | {"Image": Image}
    used: set[type] = set()
    for name, member in inspect.getmembers(Library):
        if name.startswith("_") and name != "__enter__":
            continue
        func = member.fget if isinstance(member, property) else member
        if callable(func):
            used |= {c for hint in typing.get_type_hints(func, localns=lazy).values() for c in _classes_in(hint)}
    ours = {c for c in used if c.__module__.startswith("picscribe")}
    assert ours and all(id(c) in exported for c in ours), sorted(c.__name__ for c in ours if id(c) not in exported)


def test_py_typed_ships() -> None:
    assert (REPO / "picscribe" / "py.typed").is_file()


def _modules_after(code: str) -> list[str]:
    heavy = ("torch", "sentence_transformers", "transformers", "streamlit", "faiss", "sqlalchemy")
    probe = f"{code}\nimport sys; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return eval(done.stdout)  # a printed list of names


def test_import_picscribe_is_cheap() -> None:
    assert _modules_after("import picscribe") == []
    # The Library itself needs the store (SQLAlchemy, FAISS), never a model at import.
    assert set(_modules_after("from picscribe import Library")) <= {"faiss", "sqlalchemy"}


def test_a_library_opened_for_status_loads_no_model(run: Run, photos: Path, home: Path) -> None:
    assert index_json(run, str(photos))[0] == 0
    loaded = _modules_after(
        f"from picscribe import Library\nwith Library.open({str(home)!r}) as lib:\n"
        "    assert lib.status().searchable == 6\n"
    )
    assert "torch" not in loaded and "sentence_transformers" not in loaded and "transformers" not in loaded


# -- the README's three lines ------------------------------------------------------


def _readme_python_example() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## From Python", 1)[1]
    (code,) = re.findall(r"```python\n(.*?)```", section.split("\n## ", 1)[0], re.S)
    return code


@pytest.mark.slow
@pytest.mark.models  # the offline captioner on six photos
def test_the_readme_example_indexes_and_finds_the_pizza(photos: Path, home: Path) -> None:
    code = _readme_python_example()
    # Short enough to read at a glance: the import, then open, index, search.
    assert len(ast.parse(code).body) == 4, code
    assert PIZZA in [p.name for p in photos.iterdir()]  # six of the samples: the offline captioner takes seconds each
    namespace: dict[str, object] = {"home": home, "folder": photos}
    exec(code, namespace)  # the default captioner: auto picks the offline one here (no hub)
    lib = namespace["lib"]
    assert isinstance(lib, Library)
    try:
        hits = namespace["hits"]
        assert isinstance(hits, list) and all(isinstance(h, picscribe.Hit) for h in hits)
        assert PIZZA in [Path(h.path).name for h in hits[:3]], [(Path(h.path).name, h.caption) for h in hits[:3]]
        assert lib.status().searchable == 6
    finally:
        lib.close()


# -- the rest of the surface -----------------------------------------------------


def test_settings_resolve_like_the_cli_with_keyword_overrides(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home.mkdir(parents=True)
    (home / "config.toml").write_text("batch_size = 3\nworkers = 1\nmax_pixels = 5_000_000\n")
    monkeypatch.setenv("PICSCRIBE_CAPTIONER", "fake:from-env")
    with Library.open(home) as lib:
        assert lib.config.captioner == "fake:from-env"
        options = lib.indexer().options
        assert (options.batch_size, options.workers, options.max_pixels) == (3, 1, 5_000_000)
    with Library.open(home, batch_size=5, captioner=None) as lib:  # None keeps the configured value
        assert lib.config.batch_size == 5 and lib.config.captioner == "fake:from-env"
    with pytest.raises(TypeError, match="unknown settings \\['batchsize'\\]"):
        Library.open(home, batchsize=5)


def test_index_search_similar_update_reindex(photos: Path, home: Path) -> None:
    with Library.open(home, captioner="fake") as lib:
        report = lib.index([photos])
        assert report.captioned == 6 and not report.failures
        first = lib.search("a picture", limit=2)
        assert len(first) == 2 and all(Path(h.path).parent == photos for h in first)
        inside = picscribe.SearchFilters(folder=str(photos))
        assert len(lib.search("a picture", limit=10, filters=inside)) == 6
        similar = lib.similar(first[0].path, limit=10)
        assert len(similar) == 5 and first[0].path not in [h.path for h in similar]

        victim = sorted(photos.glob("*.jpg"))[0]
        victim.unlink()
        assert lib.update([victim]).removed == 1
        assert str(victim) not in [h.path for h in lib.search("a picture", limit=10)]

        again = lib.reindex("fake:v2")
        assert again.captioned == 5 and again.complete
        assert {h.model for h in lib.search("a picture", limit=10)} == {"fake-v2"}
        assert lib.status().active_model == "fake-v2"
    assert lib._store is None  # closed by the with block


def test_index_reports_progress_to_the_object_given(photos: Path, home: Path) -> None:
    class Recorder(NoProgress):
        def __init__(self) -> None:
            self.totals: list[int] = []
            self.files: list[tuple[str, str]] = []

        def on_total(self, total: int) -> None:
            self.totals.append(total)

        def on_file(self, path: str, outcome: str) -> None:
            self.files.append((path, outcome))

    seen = Recorder()
    with Library.open(home, captioner="fake") as lib:
        lib.index([photos], progress=seen)
    assert seen.totals == [6]
    assert sorted(seen.files) == sorted((str(p), "captioned") for p in photos.glob("*.jpg"))


def test_caption_a_path_or_an_image_without_indexing(photos: Path, home: Path) -> None:
    path = sorted(photos.glob("*.jpg"))[0]
    with Library.open(home, captioner="fake") as lib:
        from_path = lib.caption(path)
        with Image.open(path) as img:
            from_image = lib.caption(img.convert("L"), task=picscribe.TASK_DETAILED)
        with Image.open(path) as img:
            assert from_path == picscribe.FakeCaptioner().caption([img.convert("RGB")])[0]
        assert "Its mean colour is" in from_image.text
        with pytest.raises(ValueError, match="cannot do 'ocr'"):
            lib.caption(path, task=picscribe.TASK_OCR)
        with pytest.raises(ValueError, match="cannot answer questions"):
            lib.ask(path, "what is it?")
        with pytest.raises(picscribe.DecodeError):
            lib.caption(photos / "missing.jpg")
    assert not (home / "index.sqlite").exists()  # captioning alone makes no index


def test_search_and_status_without_an_index_say_so_and_make_none(home: Path) -> None:
    with Library.open(home) as lib:
        assert not lib.exists()
        with pytest.raises(picscribe.StoreError):
            lib.search("anything")
        with pytest.raises(picscribe.StoreError):
            lib.status()
    assert not (home / "index.sqlite").exists()


# -- a third-party captioner --------------------------------------------------------


@pytest.fixture
def shout_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> type[ShoutCaptioner]:
    return install_shout_plugin(tmp_path / "site-packages", monkeypatch)


def test_the_example_plugin_imports_only_picscribe() -> None:
    tree = ast.parse(PLUGIN.read_text())
    ours: list[str | None] = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            ours.extend(a.name for a in n.names)
        elif isinstance(n, ast.ImportFrom):
            ours.append(n.module)
    assert "picscribe" in ours
    assert not [
        m
        for m in ours
        if m and m.split(".")[0] in {"picscribe", "store", "indexer", "search", "ui"} and m != "picscribe"
    ]


def test_a_plugin_captioner_registered_by_entry_point_indexes_and_answers(
    shout_plugin: type[ShoutCaptioner], photos: Path, home: Path
) -> None:
    home.mkdir(parents=True)
    (home / "config.toml").write_text("trust_remote_code = true\n")
    with Library.open(home, captioner="shout") as lib:
        report = lib.index([photos])
        (made,) = shout_plugin.made
        assert made.captioned == 6 and made.trust_remote_code  # options reach a plugin that names them
        assert report.captioner == "shout" and report.captioned == 6
        hits = lib.search("shouted at by a plugin", limit=3)
        assert hits and all("SHOUTED AT BY A PLUGIN" in h.caption and h.model == "shout-loud" for h in hits)
        answer = lib.ask(sorted(photos.glob("*.jpg"))[0], "how big?")
        assert answer.text.startswith("HOW BIG? ") and answer.source == "shout"
        assert lib.status().active_captioner == "shout"
    assert made.closed


# -- one composition root: the CLI builds through Library ------------------------------


def test_no_cli_command_builds_from_app_directly() -> None:
    """The CLI, the UI and eval share one composition root: the commands go
    through ``Library``, never ``picscribe.app``'s builders."""
    offenders = []
    for path in sorted((REPO / "picscribe" / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                module = "." * node.level + (node.module or "")
                names = {a.name for a in node.names}
                if module in ("..app", "picscribe.app") or (module in ("..", "picscribe") and "app" in names):
                    offenders.append(f"{path.name}:{node.lineno}")
            elif isinstance(node, ast.Import) and any(a.name == "picscribe.app" for a in node.names):
                offenders.append(f"{path.name}:{node.lineno}")
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "app":
                offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders, offenders


def test_cli_index_takes_config_toml_settings_through_library(
    run: Run, photos: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text("batch_size = 3\n")
    built: list[picscribe.Indexer] = []
    closed: list[Library] = []
    indexer, close = Library.indexer, Library.close

    def spy_indexer(self: Library, *args: Any, **kwargs: Any) -> picscribe.Indexer:
        built.append(indexer(self, *args, **kwargs))
        return built[-1]

    def spy_close(self: Library) -> None:
        closed.append(self)
        close(self)

    monkeypatch.setattr(Library, "indexer", spy_indexer)
    monkeypatch.setattr(Library, "close", spy_close)
    code, report = index_json(run, str(photos))
    assert code == 0 and report["captioned"] == 6
    assert [i.options.batch_size for i in built] == [3]
    assert len(closed) == 1


def test_a_read_only_library_never_makes_an_index(photos: Path, home: Path) -> None:
    with Library.open(home, read_only=True) as lib:
        with pytest.raises(picscribe.StoreError):
            lib.status()
    assert not (home / "index.sqlite").exists()
    with Library.open(home, captioner="fake") as lib:
        lib.index([photos])
    with Library.open(home, read_only=True) as lib:
        assert lib.status().searchable == 6
        assert lib.search("pizza")
