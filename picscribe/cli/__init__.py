"""The ``picscribe`` command: a thin shell over the library.

Library errors become click errors here, at the edge, and nowhere else.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path

import click

from .. import __version__

#: Each command: its module, its function, and the first sentence of its help
#: (what ``picscribe --help`` lists). A command's module is imported only when
#: that command runs: each pulls in the library, and ``--help`` should not
#: wait for SQLAlchemy, FAISS and the indexer (test_lazy_imports checks the
#: sentences match the commands' own help).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "index": ("index_cmds", "index", "Caption and index the images under PATH..."),
    "reindex": ("index_cmds", "reindex", "Re-caption every indexed image with a (new) captioner."),
    "reembed": (
        "index_cmds",
        "reembed",
        "Embed the stored captions with another embedder and switch search to it, without re-captioning.",
    ),
    "search": ("search_cmds", "search", "Search the index by description."),
    "caption": ("caption_cmds", "caption", "Caption IMAGE... and print the results."),
    "ask": ("ask_cmds", "ask", "Answer QUESTION about IMAGE."),
    "watch": ("watch_cmds", "watch", "Keep the index in step with the folders PATH... until Ctrl-C or SIGTERM."),
    "status": ("status_cmds", "status", "Show what the index holds: counts, models, failures, and the watcher."),
    "ui": ("ui_cmds", "ui", "Search and browse the index in a web browser."),
    "eval": ("eval_cmds", "eval_", "Measure captions and search on FOLDER, a labelled set of photos."),
    "export": (
        "exchange_cmds",
        "export",
        "Write one row per indexed image: path, sha256, caption, detailed, alt_text, model, captioner, human flag,"
        " tags, objects, OCR text, taken_at, the file's size, mtime and shape, and the embedder (and with"
        " --with-vectors the vector).",
    ),
    "import": (
        "exchange_cmds",
        "import_",
        "Merge exported rows (Parquet, JSONL or CSV files, or folders of them) into the index, keyed by content hash.",
    ),
    "write-metadata": (
        "metadata_cmds",
        "write_metadata",
        "Write each indexed image's caption (dc:description), detailed description, alt text and tags"
        " to its XMP sidecar, photo.jpg.xmp (or an existing photo.xmp).",
    ),
    "duplicates": (
        "duplicates_cmds",
        "duplicates",
        "List copies of the same photo, in tiers, with the file to keep and why.",
    ),
}


class _Picscribe(click.Group):
    """The command group: commands load on first use, and ``--home`` is
    accepted after the subcommand too.

    ``picscribe search "dog" --home ~/lib`` is how people write it; click
    only takes a group's options before the subcommand, so such a ``--home``
    is moved in front of it (never from after ``--``, where it is text).
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _home_first(args))

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, attribute, _ = COMMANDS[cmd_name]
            self.add_command(getattr(importlib.import_module(f".{module}", __name__), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """As click lists commands, from the sentences in COMMANDS: listing imports none of them."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            if name in COMMANDS and name not in self.commands:
                rows.append((name, click.Command(name, help=COMMANDS[name][2]).get_short_help_str(limit)))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _home_first(args: list[str]) -> list[str]:
    command = next((i for i, a in enumerate(args) if not a.startswith("-")), len(args))
    if command and args[command - 1] == "--home":
        command = next((i for i, a in enumerate(args) if i > command and not a.startswith("-")), len(args))
    head, tail, moved = args[:command], [], []
    rest = iter(args[command:])
    for arg in rest:
        if arg == "--":
            tail += [arg, *rest]
            break
        if arg == "--home":
            value = next(rest, None)
            if value is None:  # no value: left where it is, for the subcommand to refuse
                tail.append(arg)
            else:
                moved += [arg, value]
        elif arg.startswith("--home="):
            moved.append(arg)
        else:
            tail.append(arg)
    return [*head, *moved, *tail]


#: Commands that run many threads for a long time, and get one malloc arena per core (``_malloc_arenas``).
_LONG_THREADED_JOBS = frozenset({"index", "reindex", "reembed", "watch", "eval"})


@click.group(cls=_Picscribe, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    type=click.Path(path_type=Path),
    default=None,
    help="Index directory [default: $PICSCRIBE_HOME or the platform data dir].",
)
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.version_option(__version__, prog_name="picscribe")
@click.pass_context
def main(ctx: click.Context, home: Path | None, verbose: int) -> None:
    """Caption photos and search them by description.

    Captions come from a vision-language model when one can run here, and
    otherwise from the built-in offline captioner (detector, classifier, OCR);
    `picscribe status` says which made an index.
    """
    from ..config import ConfigError, default_home, load_config
    from ._common import Context, PrintableFormatter

    log_handler = logging.StreamHandler(sys.stderr)
    log_handler.setFormatter(PrintableFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)], handlers=[log_handler])
    home = home or default_home()
    home = home.expanduser().absolute()
    if home.exists() and not home.is_dir():
        raise click.BadParameter(f"{home} is not a directory", param_hint="--home")
    parent = next((p for p in [home, *home.parents] if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise click.BadParameter(f"cannot create {home}: {parent} is a file", param_hint="--home")
    if parent is not None and not os.access(parent, os.W_OK | os.X_OK) and not (home / "index.sqlite").exists():
        raise click.BadParameter(f"cannot create an index in {home}: {parent} is not writable", param_hint="--home")
    try:
        cfg = load_config(home)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    ctx.obj = Context(cfg)
    if ctx.invoked_subcommand in _LONG_THREADED_JOBS:
        from .._malloc_arenas import cap_malloc_arenas

        cap_malloc_arenas()
