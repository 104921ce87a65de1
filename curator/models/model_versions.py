from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import models

from curator.models.projects import Project
from curator.models.rounds import Round


class ModelVersion(models.Model):
    """One trained model of a project: a PEFT adapter over the project's base LLM (or a reward
    model), with the data that trained it, its evaluation and whether it is in use.

    Rows are written by the round job (`model_version_create`) and change status only through
    `model_version_promote` / `model_version_rollback`.
    """

    class Kind(models.TextChoices):
        SFT = "sft", "Supervised fine-tune"
        DPO = "dpo", "Direct preference optimisation"
        REWARD = "reward", "Reward model"
        CLASSIFIER = "classifier", "Classifier"

    class Role(models.TextChoices):
        # What a promoted version is used as; one promoted version per project and role.
        LLM = "llm", "LLM (labels, judges, generates)"
        REWARD = "reward", "Reward model (scores generated items)"
        CLASSIFIER = "classifier", "Classifier"

    class Status(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        PROMOTED = "promoted", "Promoted"
        RETIRED = "retired", "Retired"

    ROLE_OF_KIND: dict[str, str] = {
        Kind.SFT: Role.LLM,
        Kind.DPO: Role.LLM,
        Kind.REWARD: Role.REWARD,
        Kind.CLASSIFIER: Role.CLASSIFIER,
    }

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="model_versions")
    number = models.PositiveIntegerField()  # v1, v2, ... per project
    kind = models.CharField(max_length=16, choices=Kind.choices)
    role = models.CharField(max_length=16, choices=Role.choices)
    # The project's LLM setting the adapter was trained over (e.g. "bundled:SmolLM2-135M-Instruct").
    base_model = models.CharField(max_length=300)
    # The version this one continued training from (round N+1 starts from the promoted adapter).
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    # A PEFT adapter folder (or model folder) under MEDIA_ROOT, and its sha256 over all files.
    adapter_path = models.CharField(max_length=500)
    adapter_sha256 = models.CharField(max_length=64)
    round = models.ForeignKey(
        Round, null=True, blank=True, on_delete=models.SET_NULL, related_name="model_versions"
    )
    snapshot_sha256 = models.CharField(max_length=64, blank=True)
    hyperparameters = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)  # the evaluation table of its round
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CANDIDATE)
    promoted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    promoted_at = models.DateTimeField(null=True, blank=True)
    # The version that was promoted when this one was last promoted: what a rollback returns to
    # (None: the base model without an adapter).
    replaced = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="model_version_number"),
            # The invariant promotion relies on, enforced by PostgreSQL (a partial unique index).
            models.UniqueConstraint(
                fields=["project", "role"],
                condition=models.Q(status="promoted"),
                name="model_version_one_promoted_per_role",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project} v{self.number} ({self.kind}, {self.status})"

    @property
    def label(self) -> str:
        return f"v{self.number}"

    @property
    def adapter_dir(self) -> Path:
        """The saved PEFT adapter folder (`adapter_path` is relative to MEDIA_ROOT)."""
        return Path(settings.MEDIA_ROOT) / self.adapter_path

    @property
    def served_name(self) -> str:
        """The adapter's name on an OpenAI-compatible server (vLLM `--lora-modules name=path`)."""
        return f"{self.project.slug}-v{self.number}"
