"""The ``picscribe`` command: a thin shell over the library.

Library errors become click errors here, at the edge, and nowhere else.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from .. import __version__
from ..config import ConfigError, default_home, load_config
from ._common import Context, PrintableFormatter
from .ask_cmds import ask
from .caption_cmds import caption
from .eval_cmds import eval_
from .exchange_cmds import export, import_
from .index_cmds import index, reindex
from .metadata_cmds import write_metadata
from .search_cmds import search
from .status_cmds import status
from .ui_cmds import ui
from .watch_cmds import watch


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
    """Caption photos with a vision-language model and search them by description."""
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


for command in (index, reindex, search, caption, ask, watch, status, ui, eval_, export, import_, write_metadata):
    main.add_command(command)
