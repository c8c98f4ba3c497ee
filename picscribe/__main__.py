"""``python -m picscribe`` runs the CLI."""

from .cli import main

main()
