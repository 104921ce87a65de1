"""The embedding cache: each (content hash, encoder identity) is computed once and reused."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from curator.models import Embedding, Record
from curator.models.records import payload_text
from workers.inference.encoder import Encoder

CHUNK = 512


def missing_hashes(hashes: Sequence[str], identity: str) -> set[str]:
    wanted = set(hashes)
    present: set[str] = set()
    pending = list(wanted)
    for start in range(0, len(pending), 5000):
        present.update(
            Embedding.objects.filter(
                model_identity=identity, content_hash__in=pending[start : start + 5000]
            ).values_list("content_hash", flat=True)
        )
    return wanted - present


def embeddings_ensure(
    items: Sequence[tuple[str, str]],
    encoder: Encoder,
    on_progress: Callable[[int, int], None] | None = None,
) -> int:
    """Embed the (content hash, text) items not cached yet; return how many were computed.

    Upserts ignore conflicts, so two workers embedding the same text both succeed.
    """
    todo_hashes = missing_hashes([h for h, _ in items], encoder.identity)
    texts: dict[str, str] = {h: t for h, t in items if h in todo_hashes}
    todo = list(texts.items())
    for start in range(0, len(todo), CHUNK):
        chunk = todo[start : start + CHUNK]
        vectors = encoder.encode([text for _, text in chunk])
        Embedding.objects.bulk_create(
            [
                Embedding(
                    content_hash=digest,
                    model_identity=encoder.identity,
                    dimensions=vectors.shape[1],
                    vector=vector.astype("<f4").tobytes(),
                )
                for (digest, _), vector in zip(chunk, vectors, strict=True)
            ],
            ignore_conflicts=True,
        )
        if on_progress:
            on_progress(start + len(chunk), len(todo))
    return len(todo)


def embeddings_matrix(hashes: Sequence[str], identity: str) -> np.ndarray:
    """Rows in the order of `hashes`; every hash must have been embedded."""
    rows: dict[str, np.ndarray] = {}
    unique = list(dict.fromkeys(hashes))
    for start in range(0, len(unique), 5000):
        for digest, vector in Embedding.objects.filter(
            model_identity=identity, content_hash__in=unique[start : start + 5000]
        ).values_list("content_hash", "vector"):
            rows[digest] = np.frombuffer(bytes(vector), dtype="<f4")
    missing = [h for h in unique if h not in rows]
    if missing:
        raise LookupError(f"{len(missing)} record(s) have no embedding under {identity}")
    if not hashes:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([rows[h] for h in hashes])


def records_embedded(record_ids: Sequence[int], text_field: str, encoder: Encoder) -> np.ndarray:
    """The embeddings of these records (rows in their order) under `encoder`, computing only
    the ones the cache lacks."""
    rows = {
        pk: (digest, payload)
        for pk, digest, payload in Record.objects.filter(pk__in=record_ids).values_list(
            "id", "content_hash", "payload"
        )
    }
    missing = [pk for pk in record_ids if pk not in rows]
    if missing:
        raise LookupError(f"{len(missing)} record(s) are gone")
    embeddings_ensure(
        [(rows[pk][0], payload_text(rows[pk][1], text_field)) for pk in record_ids], encoder
    )
    return embeddings_matrix([rows[pk][0] for pk in record_ids], encoder.identity)
