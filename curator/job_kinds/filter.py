"""Quality filters and dedup (semantic dedup, perplexity and IFD need the encoder and the LLM)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from curator import value_rules as rules
from curator.algorithms.curation import check_config
from curator.job_kinds import JobKind, ParamsRefused

if TYPE_CHECKING:
    from curator.models import Project


def _check(project: Project, params: Mapping[str, Any]) -> None:
    if "filters" in params:
        try:
            check_config(params["filters"])
        except ValueError as error:
            raise ParamsRefused(str(error), {"filters": str(error)}) from None


KIND = JobKind(
    name="filter",
    label="Quality filters and dedup",
    queue="gpu",
    runner="workers.jobs.filters.filter_run",
    params={"filters": rules.mapping},
    check=_check,
    startable=True,
    pipeline_step=True,
)
