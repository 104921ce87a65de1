"""Sampling through the real round job: bench/sampling.py's simulation checked end to end.

For each data set and seed, a real project on PostgreSQL: the pool (bench/datasets.py's, in its
order) and the gold set are imported by the import service; the simulation's START random
records are sent to the front of the queue (the data manager's "prioritise" action) and labeled
first. Then, until random labeling's 1,000-label test macro-F1 (the simulation's target: mean of
random over the default seeds) is reached or CAP labels are spent: a classifier round (the round
job's body, `workers.jobs.round.round_run`, in this process) trains, measures itself on gold and
orders the queue with `sampling: auto`; a simulated annotator takes the next STEP records by the
real claim path (`next_assignment`) and answers with the data set's label (`annotation_submit`).
The test split never enters the project: each round's saved classifier is scored on it here.

The embedding cache (the `Embedding` table, keyed by content hash and encoder identity) is filled
from bench/datasets.py's cached vectors of the same encoder before the first round, so the
round's embed stage finds every record embedded, as it does from a project's second round on;
the cold embedding of a round is measured by bench/rounds.py.

Side by side: the simulation's `auto` curve for the same seed (same first labels, same
embeddings, same learner), and which records each one chose.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np

from bench import sampling
from bench.common import table
from bench.datasets import SETS, LabeledSet

CAP = sampling.BUDGET


def _import(project, rows: list[dict], split: str) -> None:
    from curator.models import Job
    from curator.services.imports import import_bytes

    data = io.BytesIO("".join(json.dumps(r) + "\n" for r in rows).encode())
    job = Job.objects.create(project=project, kind=Job.Kind.IMPORT)
    import_bytes(project=project, data=data, file_format="jsonl", split=split, job=job,
                 filename=f"{split}.jsonl")  # fmt: skip


def _embeddings_fill(project, data: LabeledSet) -> None:
    """The project's records' embeddings from the bench cache (same encoder, same texts)."""
    from curator.models import Embedding, Record
    from workers.inference.encoder import get_encoder

    identity = get_encoder().identity
    vectors = {("pool", i): v for i, v in enumerate(data.pool_x)}
    vectors |= {("gold", i): v for i, v in enumerate(data.gold_x)}
    rows = Record.objects.filter(project=project).values_list("split", "payload", "content_hash")
    Embedding.objects.bulk_create(
        [
            Embedding(
                content_hash=digest,
                model_identity=identity,
                dimensions=data.pool_x.shape[1],
                vector=np.asarray(vectors[split, payload["bench_index"]], "<f4").tobytes(),
            )
            for split, payload, digest in rows
        ],
        ignore_conflicts=True,
        batch_size=2000,
    )


def job_curve(data: LabeledSet, seed: int, goal: float, cap: int = CAP) -> dict:
    """Rounds of the real job until the test macro-F1 reaches `goal` or `cap` labels."""
    import joblib
    from django.conf import settings
    from sklearn.metrics import f1_score

    from annotation.services.annotations import annotation_submit
    from annotation.services.assignment import next_assignment
    from curator.models import Job, Membership, Record, Role, Round, User
    from curator.services.projects import project_create
    from curator.services.record_actions import records_bulk_act
    from curator.services.rounds import round_start
    from workers.jobs.round import round_run
    from workers.runtime import job_claim

    rng = np.random.default_rng(seed)  # the simulation's first labels for this seed
    start = [int(i) for i in rng.choice(len(data.pool_x), sampling.START, replace=False)]
    admin = User.objects.create_user(f"sampling-job-{data.name}-{seed}")
    project = project_create(
        name=f"sampling job {data.name} {seed}", labels=data.classes, created_by=admin,
        settings={"sampling": "auto", "batch_size": sampling.STEP, "gold_rate": 0,
                  "score_toxicity_on_import": False, "gate_contamination": False},
    )  # fmt: skip
    annotator = User.objects.create_user(f"sampling-job-annotator-{project.pk}")
    Membership.objects.create(user=annotator, project=project, role=Role.ANNOTATOR)
    _import(project, [{"text": t, "bench_index": i} for i, t in enumerate(data.pool_text)], "pool")
    _import(project, [{"text": t, "label": str(y), "bench_index": i}
                      for i, (t, y) in enumerate(zip(data.gold_text, data.gold_y, strict=True))],
            "gold")  # fmt: skip
    _embeddings_fill(project, data)
    pool_records = Record.objects.filter(project=project, split="pool")
    pool_ids = {p["bench_index"]: pk for pk, p in pool_records.values_list("id", "payload")}
    first = Record.objects.filter(pk__in=[pool_ids[i] for i in start])
    records_bulk_act(project=project, user=admin, action="prioritise", records=first)

    labeled: list[int] = []
    label_seconds: list[float] = []

    def label(count: int) -> None:
        started = time.perf_counter()
        for _ in range(count):
            assignment = next_assignment(project, annotator)
            if assignment is None:
                break
            index = int(assignment.record.payload["bench_index"])
            annotation_submit(assignment=assignment, user=annotator, value=str(data.pool_y[index]))
            labeled.append(index)
        label_seconds.append(time.perf_counter() - started)

    label(sampling.START)
    sizes: list[int] = []
    f1s: list[float] = []
    chosen: list[str] = []
    round_seconds: list[float] = []
    id_order: list[bool] = []
    while True:
        if len({str(data.pool_y[i]) for i in labeled}) < 2:
            label(1)  # a round needs two labels (the simulation draws more at random)
            continue
        # The order a read without ORDER BY meets the records in (the priority index, or the
        # row versions' places): the round's embed stage read it so before it ordered by id.
        listed = list(Record.objects.filter(project=project).values_list("id", flat=True))
        id_order.append(listed == sorted(listed))
        round_ = round_start(project=project, user=admin)
        started = time.perf_counter()
        metrics = round_run(job_claim(Job.objects.get(round=round_).pk))
        round_seconds.append(time.perf_counter() - started)
        round_.refresh_from_db()
        if round_.status != Round.Status.SUCCEEDED:
            raise RuntimeError(f"round {round_.number} ended {round_.status}: {metrics}")
        saved = joblib.load(Path(settings.MEDIA_ROOT) / round_.model_artifact)
        predicted = np.array(saved["classifier"].predict(data.test_x))
        sizes.append(len(labeled))
        f1s.append(float(f1_score(data.test_y, predicted, average="macro")))
        chosen.append(str(metrics["sampling_used"]))
        if f1s[-1] >= goal or len(labeled) >= cap:
            break
        label(min(sampling.STEP, cap - len(labeled)))
    return {
        "sizes": sizes,
        "macro_f1": f1s,
        "chosen": chosen,
        "labeled": labeled,
        "reached": next((s for s, f in zip(sizes, f1s, strict=True) if f >= goal), None),
        "round_seconds": round_seconds,
        "label_seconds": label_seconds,
        "pool_read_in_id_order": id_order,
    }


def run(seeds: list[int] | None = None, quick: bool = False) -> tuple[dict, str]:
    seeds = seeds or [0]
    cap = 200 if quick else CAP
    started = time.perf_counter()
    # The target, as bench/sampling.py computes it: random's macro-F1 at BUDGET labels, mean
    # over the default seeds; and the simulation's `auto` for the seeds run here.
    reference = sampling.curves(list(range(sampling.SEEDS)), ("random",))
    simulated = sampling.curves(seeds, ("auto",))
    simulation_seconds = time.perf_counter() - started
    results: dict = {"seeds": seeds, "cap": cap, "simulation_seconds": simulation_seconds}
    rows = []
    for name, load in SETS.items():
        data = load()
        goal = sampling.target(reference[name]["random"])
        results[name] = {"target_macro_f1": goal, "seeds": {}}
        for seed, sim in zip(seeds, simulated[name]["auto"], strict=True):
            began = time.perf_counter()
            real = job_curve(data, seed, goal, cap)
            real["seconds"] = time.perf_counter() - began
            sim_reach = sampling.reach(sim["macro_f1"], goal)
            # The simulation with its labeled rows in the job's order: the same walk, if the job
            # and the simulation compute the same thing.
            canonical = sampling.curve(data, "auto", seed, canonical=True)
            canonical_reach = sampling.reach(canonical["macro_f1"], goal)
            same = [
                len(set(real["labeled"][:n]) & set(canonical["labeled"][:n])) / n
                for n in real["sizes"]
            ]
            paired = zip(real["macro_f1"], canonical["macro_f1"], strict=False)  # job stops early
            gap = max(abs(a - b) for a, b in paired)
            # Records both chose, round by round (same labels spent): how far the two walks agree.
            overlap = [
                len(set(real["labeled"][:n]) & set(sim["labeled"][:n])) / n for n in real["sizes"]
            ]
            first_split = next(
                (n for n, o in zip(real["sizes"], overlap, strict=True) if o < 1), None
            )
            results[name]["seeds"][seed] = {
                "job": real, "simulation_reach": sim_reach, "simulation_chosen": sim["chosen"],
                "simulation_macro_f1": sim["macro_f1"], "overlap": overlap,
                "canonical_reach": canonical_reach, "canonical_chosen": canonical["chosen"],
                "canonical_macro_f1": canonical["macro_f1"], "canonical_overlap": same,
            }  # fmt: skip
            rounds = len(real["round_seconds"])
            rows.append([
                name, seed, f"{goal:.3f}",
                real["reached"] or f"> {real['sizes'][-1]}",
                sim_reach or "> 1000",
                first_split or "never",
                f"{overlap[-1]:.2f}",
                canonical_reach or "> 1000",
                f"{min(same):.2f}",
                f"{gap:.4f}",
                " ".join(c[:1] for c in real["chosen"]),
                " ".join(c[:1] for c in sim["chosen"][:rounds]),
                f"{np.mean(real['round_seconds']):.1f}",
                f"{sum(real['label_seconds']) / max(1, len(real['labeled'])) * 1000:.0f}",
                f"{real['seconds']:.0f}",
                "yes" if all(real["pool_read_in_id_order"]) else "no",
            ])  # fmt: skip
            print("sampling_job", rows[-1], flush=True)  # a long run's progress
    text = table(
        "Labels to reach random's 1,000-label test macro-F1 through the real round job "
        "(sampling: auto, PostgreSQL, claim + submit services, batch 40) against the simulation "
        f"(bench/sampling.py) on the same seed; cap {cap} labels. Choices: t typical, m margin, "
        "e entropy",
        ["set", "seed", "target", "job: labels", "simulation", "first differing set at",
         "overlap at end", "simulation, job's row order", "its min overlap",
         "its max |F1 diff|", "job chose", "simulation chose", "s/round", "ms/label", "s total",
         "unordered read in id order"],
        rows,
    )  # fmt: skip
    return results, text + f"\n(simulation reference: {simulation_seconds:.0f} s)"
