"""SQLAlchemy Core tables, mirroring the DDL in ``_migrations.py``.

The migrations create the tables; these objects are how code queries them.
A test reflects a migrated database and compares it with these definitions.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

images = Table(
    "images",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("path", Text, nullable=False, unique=True),
    Column("content_hash", Text),
    Column("size", Integer, nullable=False),
    Column("mtime_ns", Integer, nullable=False),
    Column("width", Integer),
    Column("height", Integer),
    Column("format", Text),
    Column("taken_at", Text),
    Column("status", Text, nullable=False),
    Column("error", Text),
    Column("indexed_at", Text, nullable=False),
    Column("failure_key", Text),
    Column("pixel_hash", Text),
    Column("sidecar_sig", Text),
)

captions = Table(
    "captions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("content_hash", Text, nullable=False),
    Column("captioner", Text, nullable=False),
    Column("model_id", Text, nullable=False),
    Column("task", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("ocr_text", Text, nullable=False),
    Column("human", Integer, nullable=False),
    Column("created_at", Text, nullable=False),
    # The caption upsert in _writes.py conflicts on this.
    UniqueConstraint("content_hash", "captioner", "model_id", "task"),
)

tags = Table(
    "tags",
    metadata,
    Column("caption_id", Integer, ForeignKey("captions.id", ondelete="CASCADE"), primary_key=True),
    Column("label", Text, primary_key=True),
    Column("score", Float, nullable=False),
)

objects = Table(
    "objects",
    metadata,
    Column("caption_id", Integer, ForeignKey("captions.id", ondelete="CASCADE"), primary_key=True),
    Column("label", Text, primary_key=True),
    Column("count", Integer, nullable=False),
    Column("score", Float, nullable=False),
)

embeddings = Table(
    "embeddings",
    metadata,
    Column("caption_id", Integer, ForeignKey("captions.id", ondelete="CASCADE"), primary_key=True),
    Column("embedder", Text, primary_key=True),
    Column("dim", Integer, nullable=False),
    Column("vector", LargeBinary, nullable=False),
)

current_captions = Table(
    "current_captions",
    metadata,
    Column("content_hash", Text, primary_key=True),
    Column("caption_id", Integer, ForeignKey("captions.id", ondelete="CASCADE"), nullable=False),
)

picture_hashes = Table(
    "picture_hashes",
    metadata,
    Column("content_hash", Text, primary_key=True),
    Column("hash", LargeBinary, nullable=False),
)

#: Where and with what each content was taken (migration 8); see _photo_details.py.
photo_details = Table(
    "photo_details",
    metadata,
    Column("content_hash", Text, primary_key=True),
    Column("latitude", Float),
    Column("longitude", Float),
    Column("city", Text),
    Column("region", Text),
    Column("country", Text),
    Column("country_code", Text),
    Column("place_key", Text, nullable=False),
    Column("camera_make", Text),
    Column("camera_model", Text),
    Column("camera", Text),
    Column("camera_key", Text, nullable=False),
)
