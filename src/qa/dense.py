"""The dense index: FAISS over L2-normalised vectors searched by inner product, so every score
is a cosine similarity. Row *i* is chunk *i*.

Exact (``IndexFlatIP``) up to ``ANN_THRESHOLD`` rows, IVF above. The bytes go to and come from
the caller (the store owns files, fsync and checksums).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from qa.errors import IndexCorruptError

if TYPE_CHECKING:
    import numpy as np

# Above this many chunks an exact scan costs more than the rest of a query (18 ms at 100k, 175 ms
# at 1M here), so the index becomes IVF: 4·sqrt(N) k-means lists, IVF_NPROBE of them searched.
# Measured by bench/query_latency.py: recall@10 against exact 0.975 at 100k, 0.988 at 1M and
# 0.976 on SciFact's real vectors, in under 2 ms (32 probes gave 0.947 on the real vectors);
# building takes 5 s at 100k and about a minute at 1M. HNSW reached the same recall but took
# twice as long to build, and the whole index is rebuilt on every update.
ANN_THRESHOLD = 50_000
IVF_NPROBE = 64
IVF_MIN_POINTS_PER_LIST = 39  # below this FAISS's k-means has too little to go on
IVF_TRAINING_POINTS_PER_LIST = 40


def build(vectors: np.ndarray, ann_threshold: int | None = None) -> Any:
    """Exact inner-product index, or IVF above ``ann_threshold`` (default ANN_THRESHOLD) rows.
    Vectors are normalised, so inner product is cosine similarity."""
    import faiss
    import numpy as np

    size, dim = vectors.shape
    threshold = ANN_THRESHOLD if ann_threshold is None else ann_threshold
    if size <= threshold:
        index = faiss.IndexFlatIP(dim)
        if size:
            index.add(vectors)
        return index
    nlist = max(1, min(int(4 * size**0.5), size // IVF_MIN_POINTS_PER_LIST))
    quantizer = faiss.IndexFlatIP(dim)
    ivf = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    # A fixed sample keeps builds reproducible and training time bounded at any size.
    sample_size = min(size, nlist * IVF_TRAINING_POINTS_PER_LIST)
    sample = vectors[np.sort(np.random.default_rng(0).choice(size, sample_size, replace=False))]
    ivf.train(sample)
    ivf.add(vectors)
    ivf.nprobe = min(IVF_NPROBE, nlist)
    ivf.make_direct_map()  # reconstruct(row): hybrid scoring and vector reuse on update need it
    return ivf


def describe(index: Any) -> dict[str, str]:
    """What the manifest records about the index."""
    import faiss

    return {"type": type(index).__name__, "metric": "inner_product", "version": faiss.__version__}


def serialize(index: Any, write: Callable[[bytes], None]) -> None:
    """Hand the index to ``write`` piece by piece: serialize_index would first copy every vector
    into one more array. An exception from ``write`` comes out as itself."""
    import faiss

    faiss_io: Any = faiss  # PyCallbackIOWriter is missing from FAISS's type stubs
    failures: list[BaseException] = []

    def callback(piece: bytes) -> None:
        try:
            write(piece)
        except BaseException as exc:  # FAISS turns it into a RuntimeError: keep the original
            failures.append(exc)
            raise

    try:
        faiss_io.write_index(index, faiss_io.PyCallbackIOWriter(callback))
    except RuntimeError:
        if failures:
            raise failures[0] from None
        raise


def load(raw: np.ndarray, where: str) -> Any:
    """The index from its bytes (already checksummed by the caller)."""
    import faiss

    try:
        return faiss.deserialize_index(raw)
    except RuntimeError as exc:
        raise IndexCorruptError.because(f"{where} cannot be read by FAISS ({exc})") from exc


def vectors(index: Any, dim: int) -> np.ndarray:
    """All vectors, row i for chunk i (an update reuses them)."""
    import numpy as np

    if index.ntotal == 0:
        return np.zeros((0, dim), dtype=np.float32)
    return index.reconstruct_n(0, index.ntotal)


def search(index: Any, vector: np.ndarray, depth: int) -> dict[int, float]:
    """Row -> cosine of the ``depth`` nearest rows to one query vector."""
    import faiss

    # One query is a small scan (IVF above ANN_THRESHOLD rows). With OpenMP threads, FAISS's
    # idle workers spin and starve onnxruntime's on a 2-core machine: hybrid p50 went from
    # 20 ms to 7.5 ms on SciFact with one thread. The setting is per calling thread, and it is
    # restored afterwards for whatever this thread does next (such as indexing).
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        scores, rows = index.search(vector.reshape(1, -1), depth)
    finally:
        faiss.omp_set_num_threads(threads)
    return {int(r): float(s) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0}


def cosines(index: Any, rows: list[int], vector: np.ndarray) -> list[float]:
    """Cosine of the query to each of ``rows`` (rows the search did not return)."""
    import numpy as np

    stacked = np.vstack([index.reconstruct(r) for r in rows])
    return (stacked @ vector).tolist()
