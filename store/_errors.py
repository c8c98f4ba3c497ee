"""The store's errors, in a module of their own: the CLI names them in its
error handling, and that must not import SQLAlchemy for a command that never
opens the index through it (``status``'s quick read, ``--help``)."""

from __future__ import annotations


class StoreError(RuntimeError):
    """A problem with the index itself (not with one image)."""


class StoreFull(StoreError):
    """The disk (or the database's size limit) is full; the transaction was rolled back."""
