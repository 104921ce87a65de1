"""Which label a record carries for training, from all the labels it received. No Django here."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

# Adjudicated labels settle a record outright; otherwise people and imported labels vote.
DECISIVE_SOURCES = ("review",)


@dataclass(frozen=True)
class LabelVote:
    record_id: int
    annotation_id: int  # increasing with time: later annotations have larger ids
    author_key: str  # one vote per author: their latest label replaces their earlier ones
    source: str
    label: str


@dataclass(frozen=True)
class ConsensusLabel:
    record_id: int
    annotation_id: int  # the annotation that carries the winning label (the latest such)
    label: str


def consensus_labels(votes: Iterable[LabelVote]) -> dict[int, ConsensusLabel]:
    """Majority label per record over each author's latest vote; ties go to the latest vote."""
    latest: dict[int, dict[str, LabelVote]] = {}
    decisive: dict[int, LabelVote] = {}
    for vote in votes:
        if vote.source in DECISIVE_SOURCES:
            current = decisive.get(vote.record_id)
            if current is None or vote.annotation_id > current.annotation_id:
                decisive[vote.record_id] = vote
            continue
        per_author = latest.setdefault(vote.record_id, {})
        current = per_author.get(vote.author_key)
        if current is None or vote.annotation_id > current.annotation_id:
            per_author[vote.author_key] = vote
    result: dict[int, ConsensusLabel] = {}
    for record_id, per_author in latest.items():
        counts = Counter(vote.label for vote in per_author.values())
        top = max(counts.values())
        tied = {label for label, count in counts.items() if count == top}
        winner = max(
            (vote for vote in per_author.values() if vote.label in tied),
            key=lambda vote: vote.annotation_id,
        )
        result[record_id] = ConsensusLabel(record_id, winner.annotation_id, winner.label)
    for record_id, vote in decisive.items():
        result[record_id] = ConsensusLabel(record_id, vote.annotation_id, vote.label)
    return result
