"""The FAISS index: a derived cache of the vectors stored in SQLite.

The file is written as one blob (header + serialized index) to a temporary
file and moved into place with ``os.replace``, so a reader sees the old file
or the new one, never half of one. The header carries the SQLite generation
it was built from, the vector count and a checksum; ``Store`` compares them
with SQLite on open and rebuilds when anything disagrees.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

_MAGIC = b"PSFAISS1"


class CorruptIndexFile(ValueError):
    """The file on disk is not a readable picscribe vector index."""


@dataclass(frozen=True)
class IndexHeader:
    generation: int
    count: int
    dim: int
    embedder: str


class VectorIndex:
    """Exact inner-product search over unit vectors, addressed by caption id.

    Exact (flat) search is deliberate: at photo-library sizes (1e4-1e6) it
    is fast enough, needs no training, and never silently misses a match.
    """

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        self._index.add_with_ids(
            np.ascontiguousarray(vectors, dtype=np.float32),
            np.ascontiguousarray(ids, dtype=np.int64),
        )

    def remove(self, ids: np.ndarray) -> None:
        if len(ids) == 0:
            return
        self._index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64))

    def ids(self) -> np.ndarray:
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def vector(self, id_: int) -> np.ndarray:
        return self._index.reconstruct(int(id_))

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Top-k (id, cosine) for one unit query vector, best first."""
        if len(self) == 0 or k <= 0:
            return []
        if allowed is not None and len(allowed) == 0:
            return []
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        params = None
        if allowed is not None:
            params = faiss.SearchParameters(
                sel=faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
            )
        # A single-query flat scan is memory-bound; waking OpenMP threads costs
        # more than it saves (5 ms with one thread vs 32 ms with two, 50k x 384
        # vectors, busy 2-core machine). The setting is per calling thread and
        # shared with torch's OpenMP runtime, so it is restored right after.
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            scores, ids = self._index.search(q, min(k, len(self)), params=params)
        finally:
            faiss.omp_set_num_threads(threads)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i != -1]

    def save(self, path: Path, header: IndexHeader) -> None:
        payload = faiss.serialize_index(self._index).tobytes()
        meta = json.dumps(
            {
                "generation": header.generation,
                "count": header.count,
                "dim": header.dim,
                "embedder": header.embedder,
                "crc32": zlib.crc32(payload),
            }
        ).encode()
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_MAGIC + struct.pack("<I", len(meta)) + meta + payload)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> tuple[VectorIndex, IndexHeader]:
        """Read and verify a file; raises CorruptIndexFile or FileNotFoundError."""
        data = path.read_bytes()
        if not data.startswith(_MAGIC) or len(data) < len(_MAGIC) + 4:
            raise CorruptIndexFile(f"{path}: not a picscribe vector index")
        (meta_len,) = struct.unpack_from("<I", data, len(_MAGIC))
        start = len(_MAGIC) + 4
        try:
            meta = json.loads(data[start : start + meta_len])
            payload = data[start + meta_len :]
            if zlib.crc32(payload) != meta["crc32"]:
                raise CorruptIndexFile(f"{path}: checksum mismatch")
            index = faiss.deserialize_index(np.frombuffer(payload, dtype=np.uint8))
            header = IndexHeader(
                generation=int(meta["generation"]),
                count=int(meta["count"]),
                dim=int(meta["dim"]),
                embedder=str(meta["embedder"]),
            )
        except CorruptIndexFile:
            raise
        except Exception as exc:  # faiss raises RuntimeError; json raises ValueError/KeyError
            raise CorruptIndexFile(f"{path}: {exc}") from exc
        if index.ntotal != header.count or index.d != header.dim:
            raise CorruptIndexFile(f"{path}: header does not match contents")
        if not isinstance(index, faiss.IndexIDMap2):
            raise CorruptIndexFile(f"{path}: unexpected index type {type(index).__name__}")
        vi = cls(header.dim)
        vi._index = index
        return vi, header
