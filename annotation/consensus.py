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


def consensus_labels(
    votes: Iterable[LabelVote],
    method: str = "majority",
    estimates: dict[int, str] | None = None,
) -> dict[int, ConsensusLabel]:
    """The label per record over each author's latest vote.

    "majority": most votes win, ties go to the latest vote. "dawid_skene": votes are weighted by
    each author's competence, estimated from all their labels (see `dawid_skene`); `estimates`,
    when given, are that fit's labels made over a wider set of votes (`consensus_estimates`), so
    that records can be settled a few at a time exactly as all at once.
    A review (adjudication) settles a record whatever the votes say.
    """
    latest, decisive = _latest(votes)
    result: dict[int, ConsensusLabel] = {}
    if estimates is None and method == "dawid_skene":
        estimates = _estimates(latest)
    weighted = estimates if method == "dawid_skene" and estimates is not None else {}
    for record_id, per_author in latest.items():
        chosen = weighted.get(record_id)
        backing = [vote for vote in per_author.values() if vote.label == chosen]
        if backing:
            winner = max(backing, key=lambda vote: vote.annotation_id)
            result[record_id] = ConsensusLabel(record_id, winner.annotation_id, winner.label)
            continue
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


def consensus_estimates(votes: Iterable[LabelVote], method: str) -> dict[int, str] | None:
    """What `consensus_labels` settles records by beyond their own votes: Dawid-Skene's label
    per record, fitted over all of `votes` (None for "majority", which needs nothing beyond
    each record's votes). Memory grows with the votes: the fit is global by nature."""
    if method != "dawid_skene":
        return None
    return _estimates(_latest(votes)[0])


def _latest(
    votes: Iterable[LabelVote],
) -> tuple[dict[int, dict[str, LabelVote]], dict[int, LabelVote]]:
    """Each author's latest vote per record, and each record's latest decisive vote."""
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
    return latest, decisive


def _estimates(latest: dict[int, dict[str, LabelVote]]) -> dict[int, str]:
    return dawid_skene([v for per in latest.values() for v in per.values()])[0]


def dawid_skene(
    votes: Iterable[LabelVote], iterations: int = 100
) -> tuple[dict[int, str], dict[str, float]]:
    """Dawid-Skene EM (crowd-kit): the most likely label per record, and each author's
    competence, the probability that they give the true label (their confusion matrix's
    diagonal weighted by the label priors)."""
    import pandas as pd
    from crowdkit.aggregation import DawidSkene

    rows = [(vote.record_id, vote.author_key, vote.label) for vote in votes]
    if not rows:
        return {}, {}
    frame = pd.DataFrame(rows, columns=["task", "worker", "label"])
    model = DawidSkene(n_iter=iterations).fit(frame)
    estimates, priors, confusions = model.labels_, model.priors_, model.errors_
    if estimates is None or priors is None or confusions is None:
        raise RuntimeError("Dawid-Skene fit left no estimates")  # fit() always sets them
    labels = {int(task): str(label) for task, label in estimates.items()}
    competence: dict[str, float] = {}
    for worker in frame["worker"].unique():
        errors = confusions.loc[worker]
        competence[str(worker)] = float(
            sum(
                priors[label] * errors.loc[label, label]
                for label in priors.index
                if label in errors.index and label in errors.columns
            )
        )
    return labels, competence
