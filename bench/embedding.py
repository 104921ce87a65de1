"""Encoder throughput by batch size, and the embedding cache against recomputing."""

from __future__ import annotations

import time

from bench.common import sst2_sentences, table

SIZE = 2048


def run() -> tuple[dict, str]:
    from curator.hashing import content_hash
    from workers.inference.encoder import get_encoder
    from workers.jobs.embeddings import embeddings_ensure

    encoder = get_encoder()
    texts = [t for t, _ in sst2_sentences("dev")] + [t for t, _ in sst2_sentences("train")[:SIZE]]
    texts = texts[:SIZE]
    encoder.encode(texts[:32])  # warm-up: first call pays for lazy initialisation
    results: dict[str, dict] = {}
    default_batch = encoder.place.batch_size
    for batch in (16, 64, 256):
        encoder.place = type(encoder.place)(encoder.place.device, encoder.place.dtype, batch)
        started = time.perf_counter()
        encoder.encode(texts)
        seconds = time.perf_counter() - started
        results[f"batch {batch}"] = {"texts_per_s": SIZE / seconds}
    encoder.place = type(encoder.place)(encoder.place.device, encoder.place.dtype, default_batch)
    items = [(content_hash({"text": t}), t) for t in texts]
    started = time.perf_counter()
    embeddings_ensure(items, encoder)
    cold = time.perf_counter() - started
    started = time.perf_counter()
    computed = embeddings_ensure(items, encoder)
    warm = time.perf_counter() - started
    assert computed == 0
    results["cache"] = {
        "cold_texts_per_s": SIZE / cold,
        "cached_texts_per_s": SIZE / warm,
        "speedup": cold / warm,
    }
    base = results["batch 16"]["texts_per_s"]
    rows = [
        [name, r["texts_per_s"], r["texts_per_s"] / base]
        for name, r in results.items()
        if name.startswith("batch")
    ]
    text = table(
        f"Encoder {encoder.identity} on {encoder.place.device}, {SIZE} SST-2 sentences",
        ["setting", "texts/s", "vs batch 16"],
        rows,
    ) + (
        f"\nembed + store (cold): {results['cache']['cold_texts_per_s']:.0f} texts/s; "
        f"cache hit: {results['cache']['cached_texts_per_s']:.0f} texts/s "
        f"({results['cache']['speedup']:.0f}x)"
    )
    return results, text
