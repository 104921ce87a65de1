from annotation.consensus import ConsensusLabel, LabelVote, consensus_labels
from curator.hashing import snapshot_digest


def vote(record: int, annotation: int, author: str, label: str, source: str = "human") -> LabelVote:
    return LabelVote(record, annotation, author, source, label)


def test_an_authors_latest_label_replaces_their_earlier_one():
    result = consensus_labels([vote(1, 10, "u1", "neg"), vote(1, 11, "u1", "pos")])
    assert result == {1: ConsensusLabel(1, 11, "pos")}


def test_majority_wins_and_ties_go_to_the_latest_vote():
    votes = [
        vote(1, 1, "u1", "pos"), vote(1, 2, "u2", "neg"), vote(1, 3, "u3", "pos"),
        vote(2, 4, "u1", "pos"), vote(2, 5, "u2", "neg"),
    ]  # fmt: skip
    assert consensus_labels(votes) == {
        1: ConsensusLabel(1, 3, "pos"),
        2: ConsensusLabel(2, 5, "neg"),
    }


def test_adjudicated_label_settles_the_record():
    votes = [vote(1, 1, "u1", "pos"), vote(1, 2, "u2", "pos"), vote(1, 3, "c", "neg", "review")]
    assert consensus_labels(votes) == {1: ConsensusLabel(1, 3, "neg")}


def test_snapshot_digest_ignores_order_and_sees_any_change():
    pairs = [("h1", "pos"), ("h2", "neg")]
    assert snapshot_digest(pairs) == snapshot_digest(list(reversed(pairs)))
    assert snapshot_digest(pairs) != snapshot_digest([("h1", "pos"), ("h2", "pos")])
    assert snapshot_digest(pairs) != snapshot_digest(pairs[:1])
