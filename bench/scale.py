"""What annotators and curators wait for on a project of 1M records: the project page counts,
the next record, and the review list. Run by `make reliability` after its 1M-record import."""

from __future__ import annotations

import time

from bench.common import summary


def _timed(call, repeat: int) -> dict[str, float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return summary(samples)


def run(project) -> dict[str, dict[str, float]]:
    from django.core.cache import cache

    from annotation.selectors import disagreements, waiting_count
    from annotation.services.annotations import annotation_submit
    from annotation.services.assignment import next_assignment
    from curator import selectors
    from curator.models import Membership, Role, User

    people = []
    for i in range(20):
        user = User.objects.create_user(f"scale-annotator-{i}")
        Membership.objects.create(user=user, project=project, role=Role.ANNOTATOR)
        people.append(user)

    def overview_cold() -> None:
        cache.clear()
        selectors.project_overview(project)

    results = {
        "project page counts, cold": _timed(overview_cold, 3),
        "project page counts, cached": _timed(lambda: selectors.project_overview(project), 20),
        "waiting count, cached": _timed(lambda: waiting_count(project), 20),
    }
    loops = []
    for round_ in range(5):
        for user in people:
            started = time.perf_counter()
            assignment = next_assignment(project, user)
            annotation_submit(
                assignment=assignment, user=user, value=["negative", "positive"][round_ % 2]
            )
            loops.append((time.perf_counter() - started) * 1000)
    results["next + submit (service calls)"] = summary(loops)
    results["review: disagreements page"] = _timed(lambda: disagreements(project), 3)
    return results
