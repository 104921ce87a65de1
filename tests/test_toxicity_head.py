"""The toxicity head learns from people's decisions: real tweets, the bundled n-gram scorer and
real all-MiniLM-L6-v2 embeddings, through the toxicity job's own plan and chunks."""

import numpy as np
import pytest
from django.utils import timezone

from annotation.models import OFFENSIVE_SKIP, Assignment
from curator import public_data
from curator.models import Job, Record, Score
from curator.selectors import toxicity_decisions
from curator.services.jobs import job_create
from curator.services.record_actions import records_bulk_act
from tests.conftest import as_jsonl
from tests.test_imports import run_import
from workers.jobs import toxicity


def _run(project, **params) -> Job:
    job = job_create(project=project, kind=Job.Kind.TOXICITY, params=params)
    ids = toxicity.plan(job)
    toxicity.process(job, ids)
    job.metrics = toxicity.finalize(job)
    return job


def _scores(job: Job) -> dict[int, float]:
    return dict(Score.objects.filter(job=job, kind="toxicity").values_list("record_id", "value"))


@pytest.mark.django_db
def test_toxicity_head_moves_with_curators_and_annotators_decisions(
    project, curator_user, annotator
):
    rows = public_data.tweets()
    toxic = [r["text"] for r in rows if r["label"] != "neither"][:150]
    clean = [r["text"] for r in rows if r["label"] == "neither"][:150]
    run_import(project, as_jsonl([{"text": t} for t in toxic + clean]))
    by_text = {r.payload["text"]: r for r in Record.objects.filter(project=project)}

    before = _run(project, threshold=0.99)
    assert before.params["head"] is None and before.metrics["decisions"] == 0
    base = _scores(before)
    assert len(base) == 300

    # People decide: annotators skip as offensive the toxic tweets the base scorer rates lowest
    # (insults without profanity); a curator holds more of them and clears the clean tweets it
    # rates highest.
    missed = sorted(toxic, key=lambda t: base[by_text[t].pk])[:40]
    alarmed = sorted(clean, key=lambda t: -base[by_text[t].pk])[:30]
    skipped, held = missed[:20], missed[20:]
    for text in skipped:
        Assignment.objects.create(
            record=by_text[text], project=project, annotator=annotator,
            state=Assignment.State.SKIPPED, skip_reason=OFFENSIVE_SKIP,
            lease_expires_at=timezone.now(),
        )  # fmt: skip
    records = Record.objects.filter(project=project)
    hold = records.filter(pk__in=[by_text[t].pk for t in held + alarmed])
    records_bulk_act(project=project, user=curator_user, action="hold", records=hold)
    clear = records.filter(pk__in=[by_text[t].pk for t in alarmed])
    records_bulk_act(project=project, user=curator_user, action="clear", records=clear)
    decisions = toxicity_decisions(project)
    assert len(decisions) == 70 and sum(decisions.values()) == 40

    after = _run(project, threshold=0.99)
    assert after.params["head"]["decisions"] == 70 and after.params["head"]["toxic"] == 40
    assert after.params["model"] != before.params["model"]  # new decisions, new scores
    learned = _scores(after)
    assert len(learned) == 300  # every record rescored under the new identity

    def moved(texts: list[str]) -> float:
        return float(np.mean([learned[by_text[t].pk] - base[by_text[t].pk] for t in texts]))

    # The direction follows the decisions (a head with the base logit as a free feature moved
    # the decided-toxic tweets down, -0.06: the decisions sit where the base scorer is wrong).
    assert moved(missed) > 0, moved(missed)  # decided toxic: up
    assert moved(alarmed) < 0, moved(alarmed)  # cleared: down
    assert moved(skipped) > 0, moved(skipped)  # annotators' skips alone count too

    # No decisions, no head: the same project's base scores again after the decisions are undone.
    Assignment.objects.filter(project=project).delete()
    Record.objects.filter(project=project).update(held=False, held_reason="",
                                                  hold_cleared_by=None)  # fmt: skip
    again = _run(project, threshold=0.99, rescore=True)
    assert again.params["head"] is None
    assert again.params["model"] == before.params["model"]
