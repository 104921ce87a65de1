"""Links from a job to what it produced, for its card and the API (one place builds them)."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse

from curator import job_kinds
from curator.models import Job


@dataclass(frozen=True)
class JobLink:
    label: str
    url: str


def job_links(job: Job) -> list[JobLink]:
    """The round it belongs to and the model it ran with, always; once it succeeded, the pages
    its kind declares (batch, report, held records) and the records it wrote or judged."""
    slug = job.project.slug
    links = []
    if job.round is not None:
        number = job.round.number
        links.append(JobLink(f"Round {number}", reverse("round-detail", args=[slug, number])))
    if job.model_version_id is not None:
        links.append(JobLink("Models", reverse("models", args=[slug])))
    if job.status != Job.Status.SUCCEEDED or not job_kinds.exists(job.kind):
        return links
    kind = job_kinds.get(job.kind)
    for result in kind.results:
        args = [slug, job.pk] if result.per_job else [slug]
        links.append(JobLink(result.label, reverse(result.url_name, args=args)))
    if kind.records_via:
        links.append(JobLink("Records", reverse("job-records", args=[slug, job.pk])))
    return links
