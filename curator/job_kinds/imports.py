"""Import an uploaded JSONL/CSV file (started by the upload, not from the job list)."""

from __future__ import annotations

from curator.job_kinds import JobKind

KIND = JobKind(
    name="import",
    label="Import",
    queue="cpu",
    runner="curator.services.imports.import_file",
    card_template="curator/job_cards/import.html",
    records_via="created_by_job",
)
