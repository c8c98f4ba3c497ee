"""picscribe ui: the Streamlit web UI on the index in --home."""

from __future__ import annotations

import os
import sys

import click

from picscribe.store import DB_NAME
from picscribe.ui import APP_PATH
from picscribe.ui.settings import ALLOW_INDEX_ANYWHERE_ENV

from ..library import Library
from ._common import Context, library_errors, pass_context, say


def streamlit_command(host: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP_PATH),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        # Never phone home, never open a browser on a server.
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--global.developmentMode",
        "false",
        # A photo app, not a Streamlit dev session: no Deploy button.
        "--client.toolbarMode",
        "minimal",
    ]


@click.command()
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8501, show_default=True, help="Port the web UI listens on."
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. The UI has no login: only use another address on a network you trust.",
)
@click.option(
    "--allow-index-anywhere",
    is_flag=True,
    help="Let the Status page index (and so serve) any folder, not only those inside the library's roots.",
)
@pass_context
@library_errors
def ui(ctx: Context, port: int, host: str, allow_index_anywhere: bool) -> None:
    """Search and browse the index in a web browser.

    It serves and indexes only inside the library's roots: the folders given
    to `index` and `watch`, and `roots` in config.toml.
    """
    cfg = ctx.cfg
    if (cfg.home / DB_NAME).exists():
        with Library(cfg) as lib:
            lib.open_index(create=False)  # refuse a broken or too-new index here, in one line, not in the browser
    env = dict(os.environ)
    # The UI opens a Library on this home and so resolves config.toml and the
    # environment exactly as this command did: every setting reaches it.
    env.update(
        PICSCRIBE_HOME=str(cfg.home),
        # Always set, so a variable left in the caller's environment widens nothing.
        **{ALLOW_INDEX_ANYWHERE_ENV: "1" if allow_index_anywhere else ""},
        STREAMLIT_BROWSER_GATHER_USAGE_STATS="false",
    )
    say(f"picscribe UI for {cfg.home} at http://{host}:{port} (Ctrl-C to stop)")
    sys.stderr.flush()
    # Become the server rather than wait on it: a signal sent to this process
    # (Ctrl-C, a service manager's SIGTERM) then reaches Streamlit, and no
    # server is left running behind a parent that was stopped.
    cmd = streamlit_command(host, port)
    os.execve(cmd[0], cmd, env)
