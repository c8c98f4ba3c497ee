"""The FAISS index: a derived cache of the vectors stored in SQLite.

The file is written as one blob (header + serialized index) to a temporary
file and moved into place with ``os.replace``, so a reader sees the old file
or the new one, never half of one. The header carries the SQLite generation
it was built from, the vector count, a checksum and the index layout
(``IndexSpec``); ``_vector_cache`` compares them with SQLite on open and rebuilds
when anything disagrees.

The layout follows the size of the collection (numbers from ``python -m
bench``, MiniLM caption embeddings, 2 shared cores):

- below ``FLAT_MAX`` vectors, exact flat search: no training, never misses,
  and fast enough (p50 1 ms at 10k; 14 ms at 100k, where IVF takes 1 ms);
- from there, IVF with 8-bit scalar quantization (``IndexIVFScalarQuantizer``,
  inner product): a quarter of the memory of float32 (1M vectors: ~0.4 GB
  instead of 1.5 GB), adds and removes in place through a hash-table direct
  map, and recall@10 against exact search above 0.95 at the chosen nprobe.

Adds and deletes never rebuild. A rebuild (from SQLite) is asked for only
when the collection crosses a layout boundary: flat grows past FLAT_MAX,
IVF shrinks below half of it, or grows to 4x the size it was trained on.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import stat
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

import faiss
import numpy as np

from ._temp_files import make_temp_file
from ._umask import process_umask

_MAGIC = b"PSFAISS1"

#: Exact search up to this many vectors; IVF from here on.
FLAT_MAX = 50_000
#: A filter letting at most this many ids through is searched exactly, by
#: decoding just their vectors (20k x 384 SQ8: ~10 ms), not through IVF.
EXACT_FILTER_MAX = 20_000
_IVF_RETRAIN_GROWTH = 4
_TRAIN_PER_LIST = 40
_TRAIN_SEED = 1234
_CRC_CHUNK = 1 << 24
_CHUNK = 50_000


class CorruptIndexFile(ValueError):
    """The file on disk is not a readable picscribe vector index."""


@dataclass(frozen=True)
class IndexSpec:
    """How the index is laid out; recorded in the file header."""

    kind: str = "flat"  # "flat" or "ivf-sq8"
    nlist: int = 0
    nprobe: int = 0
    trained_on: int = 0  # vectors in the collection when the IVF was trained

    @classmethod
    def for_size(cls, n: int) -> IndexSpec:
        if n < FLAT_MAX:
            return cls()
        # ~sqrt(n) lists, a power of two: 100k -> 256, 1M -> 1024. Training
        # cost grows with nlist^2 (40 samples per list), which is what keeps
        # it below the usual 4*sqrt(n).
        # nprobe = 2*sqrt(nlist) measured: 100k/256 lists/32 probes recall@10
        # 0.975, p50 1.1 ms; 1M/1024/64: 0.989, 5 ms (SQ8 itself caps recall
        # near 0.99; IVF-Flat measured the same recall at 4x the memory).
        nlist = 1 << max(0, round(math.log2(math.sqrt(n))))
        return cls("ivf-sq8", nlist=nlist, nprobe=max(4, round(2 * math.sqrt(nlist))), trained_on=n)

    def fits(self, n: int) -> bool:
        """Whether a collection of ``n`` vectors can keep this layout."""
        if self.kind == "flat":
            return n < FLAT_MAX
        return FLAT_MAX // 2 <= n <= self.trained_on * _IVF_RETRAIN_GROWTH


@dataclass(frozen=True)
class IndexHeader:
    generation: int
    count: int
    dim: int
    embedder: str
    spec: IndexSpec = IndexSpec()


class VectorIndex:
    """Inner-product search over unit vectors, addressed by caption id."""

    def __init__(self, dim: int, spec: IndexSpec = IndexSpec(), index: faiss.Index | None = None) -> None:
        self.dim = dim
        self.spec = spec
        # Any, not faiss.Index: faiss's stub (__init__.pyi) types the raw SWIG
        # methods, which its class_wrappers.py replaces on import with
        # numpy-taking ones (remove_ids of an array, search(..., params=)).
        self._index: Any = index if index is not None else _empty(dim, spec)
        #: The file mapping a loaded index reads its vectors from (``load(mapped=True)``), kept while it lives.
        self._mapping: np.ndarray | None = None

    @classmethod
    def build(cls, dim: int, ids: np.ndarray, vectors: np.ndarray) -> VectorIndex:
        """The layout for this many vectors, filled with them.

        Deterministic: the same (id, vector) pairs, in any order, give the
        same index, so a rebuild from SQLite reproduces the one it replaces.
        """
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        ids, vectors = ids[order], np.ascontiguousarray(vectors[order], dtype=np.float32)

        def chunks() -> Iterator[tuple[np.ndarray, np.ndarray]]:
            for start in range(0, len(ids), _CHUNK):
                yield ids[start : start + _CHUNK], vectors[start : start + _CHUNK]

        return cls.build_streaming(dim, len(ids), chunks)

    @classmethod
    def build_streaming(
        cls, dim: int, count: int, chunks: Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]]
    ) -> VectorIndex:
        """Like ``build``, for ``count`` vectors that ``chunks()`` yields as
        (ids, vectors) in ascending id order, so the caller never holds them
        all: 1M x 384 float32 is 1.5 GB, the IVF-SQ8 index 0.4 GB. IVF reads
        the chunks twice: once for the training sample, once to add."""
        spec = IndexSpec.for_size(count)
        vi = cls(dim, spec)
        if spec.kind != "flat":
            rng = np.random.default_rng(_TRAIN_SEED)
            picks = np.sort(rng.choice(count, min(count, spec.nlist * _TRAIN_PER_LIST), replace=False))
            sample = np.empty((len(picks), dim), dtype=np.float32)
            seen = taken = 0
            for _, vecs in chunks():
                mine = picks[taken : np.searchsorted(picks, seen + len(vecs))]
                sample[taken : taken + len(mine)] = vecs[mine - seen]
                taken += len(mine)
                seen += len(vecs)
            vi._index.train(sample[:taken])
        for ids, vecs in chunks():
            vi.add(ids, vecs)
        return vi

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def needs_rebuild(self) -> bool:
        return not self.spec.fits(len(self))

    def _check_writable(self) -> None:
        # A mapped index reads its vectors from a read-only mapping of the file: a write would crash the process.
        if self._mapping is not None:
            raise RuntimeError("a memory-mapped vector index is read-only")

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        self._check_writable()
        self._index.add_with_ids(
            np.ascontiguousarray(vectors, dtype=np.float32),
            np.ascontiguousarray(ids, dtype=np.int64),
        )

    def remove(self, ids: np.ndarray) -> None:
        if len(ids) == 0:
            return
        self._check_writable()
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if self.spec.kind == "flat":
            self._index.remove_ids(ids)
        else:
            # An array selector lets the hash-table direct map find each id
            # instead of scanning every inverted list.
            self._index.remove_ids(faiss.IDSelectorArray(len(ids), faiss.swig_ptr(ids)))

    def ids(self) -> np.ndarray:
        if isinstance(self._index, faiss.IndexIDMap2):
            return faiss.vector_to_array(self._index.id_map).astype(np.int64)
        invlists = self._index.invlists
        parts = [
            faiss.rev_swig_ptr(invlists.get_ids(i), invlists.list_size(i)).copy()
            for i in range(invlists.nlist)
            if invlists.list_size(i)
        ]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)

    def vector(self, id_: int) -> np.ndarray:
        return self._index.reconstruct(int(id_))

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of ``ids`` (all must be present); exact for
        flat, 8-bit approximations for IVF-SQ8 (cosine error ~1e-3)."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._index.reconstruct_batch(ids)

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top-k (id, cosine) for one unit query vector, best first.

        With ``allowed``, only those ids are candidates (FAISS skips the
        others before computing a distance), and the top-k is the top-k
        among them: IVF probes nprobe/sqrt(share) lists, so the fewer ids a
        filter lets through the more lists it scans, up to all of them
        (exact) for a narrow filter. Measured at 100k (256 lists, 32
        probes): recall@10 against exact filtered search 0.95 for a 6%
        filter without scaling, 0.99 with it, 1.0 scaling by 1/share at 5x
        the time.
        """
        if len(self) == 0 or k <= 0:
            return []
        if allowed is not None and len(allowed) == 0:
            return []
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        if allowed is not None and self.spec.kind != "flat" and len(allowed) <= EXACT_FILTER_MAX:
            among = self._search_among(q[0], k, allowed)
            if among is not None:
                return among
        params: faiss.SearchParameters | None = None
        if self.spec.kind != "flat":
            nprobe = self.spec.nprobe
            if allowed is not None:
                share = len(allowed) / max(len(self), 1)
                nprobe = math.ceil(nprobe / math.sqrt(min(1.0, share)))
            params = faiss.SearchParametersIVF()
            params.nprobe = min(nprobe, self.spec.nlist)
        if allowed is not None:
            sel, _keep = _selector(allowed)
            if params is None:
                params = faiss.SearchParameters()
            params.sel = sel
        # A single-query scan is memory-bound; waking OpenMP threads costs
        # more than it saves (5 ms with one thread vs 32 ms with two, 50k x 384
        # vectors, busy 2-core machine). The setting is per calling thread and
        # shared with torch's OpenMP runtime, so it is restored right after.
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            scores, ids = self._index.search(q, min(k, len(self)), params=params)
        finally:
            faiss.omp_set_num_threads(threads)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]

    def _search_among(self, query: np.ndarray, k: int, allowed: np.ndarray) -> list[tuple[int, float]] | None:
        """Exact top-k over a few allowed ids: decode their vectors and take
        dot products. An IVF search under a narrow filter scans nearly every
        list to find them (380 ms for 1,000 of 1M ids); this takes ~1 ms.
        None if an id is not in the index (the caller searches instead)."""
        ids = np.unique(np.asarray(allowed, dtype=np.int64))
        try:
            scores = self.vectors(ids) @ query
        except RuntimeError:  # FAISS: an id it does not hold
            return None
        top = np.argsort(-scores, kind="stable")[:k]
        return [(int(ids[i]), float(scores[i])) for i in top]

    def save(self, path: Path, header: IndexHeader) -> None:
        # serialize_index gives a numpy array; it is written as a buffer, not
        # copied to bytes, so saving 1M vectors needs one copy, not two.
        payload = faiss.serialize_index(self._index)
        meta = json.dumps(
            {
                "generation": header.generation,
                "count": header.count,
                "dim": header.dim,
                "embedder": header.embedder,
                "crc32": zlib.crc32(payload.data),
                "spec": asdict(self.spec),
            }
        ).encode()
        fd, tmp = make_temp_file(path)
        try:
            # mkstemp makes it 0600; the cache is as readable as the database it derives from.
            os.fchmod(fd, 0o666 & ~process_umask())
            with os.fdopen(fd, "wb") as f:
                f.write(_MAGIC + struct.pack("<I", len(meta)) + meta)
                f.write(payload.data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path, *, mapped: bool = False) -> tuple[VectorIndex, IndexHeader]:
        """Read and verify a file; raises CorruptIndexFile or FileNotFoundError.

        The payload is checksummed in chunks and then read by FAISS straight
        from the file, so loading holds one copy of the index in memory.

        ``mapped``: for a reader that never changes the index (a read-only
        store: ``search``), the vectors stay in the file, memory-mapped
        (``faiss.IO_FLAG_MMAP_IFC``), instead of being copied in: a cold search
        at 1M vectors loads in a fraction of the time and touches only the
        lists it probes. The file is never changed in place (a new one
        replaces it), so the mapping stays valid.
        """
        with _open_regular(path) as f:
            head = f.read(len(_MAGIC) + 4)
            if not head.startswith(_MAGIC) or len(head) < len(_MAGIC) + 4:
                raise CorruptIndexFile(f"{path}: not a picscribe vector index")
            (meta_len,) = struct.unpack_from("<I", head, len(_MAGIC))
            try:
                meta = json.loads(f.read(meta_len))
                payload_at = f.tell()
                if _crc_rest(f) != meta["crc32"]:
                    raise CorruptIndexFile(f"{path}: checksum mismatch")
                mapping = None
                if mapped:
                    mapping = np.frombuffer(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ), dtype=np.uint8)
                    payload = mapping[payload_at:]
                    # faiss's stub omits ZeroCopyIOReader, which swigfaiss exports.
                    reader = faiss.ZeroCopyIOReader(faiss.swig_ptr(payload), payload.size)  # type: ignore[attr-defined]
                    index = faiss.read_index(reader, faiss.IO_FLAG_MMAP_IFC)
                else:
                    f.seek(payload_at)
                    # faiss's stub omits PyCallbackIOReader, which swigfaiss exports.
                    index = faiss.read_index(faiss.PyCallbackIOReader(f.read))  # type: ignore[attr-defined]
                spec = IndexSpec(**meta.get("spec", {}))
                header = IndexHeader(
                    generation=int(meta["generation"]),
                    count=int(meta["count"]),
                    dim=int(meta["dim"]),
                    embedder=str(meta["embedder"]),
                    spec=spec,
                )
            except CorruptIndexFile:
                raise
            except Exception as exc:  # faiss raises RuntimeError; json raises ValueError/KeyError/TypeError
                raise CorruptIndexFile(f"{path}: {exc}") from exc
        if index.ntotal != header.count or index.d != header.dim:
            raise CorruptIndexFile(f"{path}: header does not match contents")
        expected = faiss.IndexIDMap2 if spec.kind == "flat" else faiss.IndexIVFScalarQuantizer
        if not isinstance(index, expected):
            raise CorruptIndexFile(f"{path}: unexpected index type {type(index).__name__} for {spec.kind}")
        if isinstance(index, faiss.IndexIVFScalarQuantizer) and index.nlist != spec.nlist:
            raise CorruptIndexFile(f"{path}: header does not match contents")
        loaded = cls(header.dim, spec, index)
        loaded._mapping = mapping
        return loaded, header


def _open_regular(path: Path) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file.

    O_NONBLOCK: a FIFO in its place would block open() until a writer came,
    hanging every search; a directory or device is no index either.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise CorruptIndexFile(f"{path}: not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _empty(dim: int, spec: IndexSpec) -> faiss.Index:
    if spec.kind == "flat":
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    if spec.kind != "ivf-sq8":
        raise ValueError(f"unknown index kind {spec.kind!r}")
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFScalarQuantizer(
        quantizer, dim, spec.nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
    )
    index.own_fields = True
    # SWIG's ``this`` proxy (and faiss.DirectMap below) are missing from faiss's stub.
    quantizer.this.disown()  # type: ignore[attr-defined]
    # Hash-table direct map: remove_ids and reconstruct by caption id,
    # without a dense array sized by the largest id.
    index.set_direct_map_type(faiss.DirectMap.Hashtable)  # type: ignore[attr-defined]
    index.nprobe = spec.nprobe
    return index


def _selector(allowed: np.ndarray) -> tuple[faiss.IDSelector, np.ndarray]:
    """A bitmap over caption ids: built with numpy in ~1 ms for 1M ids,
    where IDSelectorBatch's hash set took tens of ms for a broad filter.
    Returns the bitmap too: FAISS does not own it, so it must outlive the search."""
    allowed = np.asarray(allowed, dtype=np.int64)
    allowed = allowed[allowed >= 0]
    bits = np.zeros(int(allowed.max(initial=0)) + 1, dtype=bool)
    bits[allowed] = True
    bitmap = np.packbits(bits, bitorder="little")
    return faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap)), bitmap


def _crc_rest(f: BinaryIO) -> int:
    crc = 0
    while chunk := f.read(_CRC_CHUNK):
        crc = zlib.crc32(chunk, crc)
    return crc
