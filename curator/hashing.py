"""Hashes: a record payload's identity (independent of key order or whitespace), and the
digest of files written as artifacts or exports."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def canonical_json(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def content_hash(payload: Any) -> str:
    return canonical_hash(canonical_json(payload))


def canonical_hash(canonical: str) -> str:
    """`content_hash` of a payload whose canonical JSON is already at hand."""
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def files_sha256(path: Path) -> str:
    """sha256 over a file, or over every file of a folder in path order (a saved model, a
    datasets folder)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        with file.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def snapshot_digest(pairs: list[tuple[str, str]]) -> str:
    """sha256 over sorted (content hash, label) pairs: equal digests mean equal training data."""
    digest = hashlib.sha256()
    for content_hash, label in sorted(pairs):
        digest.update(f"{content_hash}\t{label}\n".encode())
    return digest.hexdigest()
