"""The one place that decides which LLM a project's job runs: the project's base LLM with its
promoted adapter, if any.

A job resolves it once. The first call records the version on the job (`Job.model_version`, and
`params["llm_version"]`, None for the base model), so every chunk of the job, and a chunk run
again after a promotion, uses the same model; the next job picks up a newer promotion.
"""

from __future__ import annotations

from curator.model_version_selectors import promoted_version
from curator.models import Job, ModelVersion, Project
from workers.inference.llm import LLM, Adapter, get_llm

PINNED = "llm_version"


def version_adapter(version: ModelVersion) -> Adapter:
    """A registered version's adapter as inference loads it; its label goes into identities."""
    return Adapter(
        path=str(version.adapter_dir),
        label=f"{version.label}@{version.adapter_sha256[:8]}",
        served_name=version.served_name,
    )


def version_llm(project: Project, version: ModelVersion | None) -> LLM:
    """The LLM of `version` (None: the project's base LLM setting, no adapter)."""
    if version is None:
        return get_llm(project.setting("llm_model"))
    return get_llm(version.base_model, version_adapter(version))


def job_version(job: Job) -> ModelVersion | None:
    """The LLM version this job runs with: pinned on the first call (see the module doc)."""
    if PINNED in job.params:
        pinned = job.params[PINNED]
        return None if pinned is None else ModelVersion.objects.get(pk=pinned)
    if job.model_version_id is not None:
        return job.model_version
    version = promoted_version(job.project)
    job.params = {**job.params, PINNED: version.pk if version is not None else None}
    Job.objects.filter(pk=job.pk).update(params=job.params, model_version=version)
    job.model_version = version
    return version


def job_llm(job: Job) -> LLM:
    """The project's LLM for this job: base model plus the promoted adapter, pinned per job."""
    return version_llm(job.project, job_version(job))
