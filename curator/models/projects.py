from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings
from django.db import models

from annotation import task_types


class Role(models.TextChoices):
    ANNOTATOR = "annotator", "Annotator"
    CURATOR = "curator", "Curator"
    ADMIN = "admin", "Admin"


# Defaults for Project.settings; a project's own values win (see Project.setting).
PROJECT_SETTING_DEFAULTS: dict[str, Any] = {
    "overlap": 1,  # distinct annotators wanted per record
    "lease_seconds": 600,  # how long a handed-out record stays reserved for its annotator
    "text_field": "text",  # payload key shown to annotators and embedded
    "encoder_model": None,  # None: settings.CURATOR_ENCODER_MODEL
    # How a round orders the queue: "hybrid" (a diverse batch among the most uncertain, then
    # by entropy), "entropy" alone, or "committee" (vote entropy of committee_size members).
    "sampling": "hybrid",
    "batch_size": 50,  # size of the hybrid batch a round puts first
    # Bootstrap committee whose vote entropy is scored too (0 or 1: none); "committee" sampling
    # orders the queue by it.
    "committee_size": 0,
    "score_toxicity_on_import": True,  # queue a toxicity job after every import
    "auto_accept_threshold": 0.9,  # LLM labels at least this confident skip people
    "spot_check_rate": 0.1,  # share of auto-accepted labels still shown to people
    "toxicity_threshold": 0.8,  # records scoring this or more are held from training
    "llm_model": None,  # None: settings.CURATOR_LLM_MODEL (or the model name on the server)
    "toxicity_model": None,  # None: settings.CURATOR_TOXICITY_MODEL
    "prelabel_system": None,  # None: the built-in pre-label prompt
    "prelabel_user": None,
    # Share of an annotator's items that are gold records, mixed in unannounced (0 to 0.5).
    "gold_rate": 0.05,
    # How the training label is chosen from several people's labels: "majority" (one vote per
    # person) or "dawid_skene" (votes weighted by each annotator's estimated competence).
    "consensus": "majority",
    # Train rounds on a k-center coreset of this many labeled records (0: on all of them); the
    # round also trains on the full set and reports both on gold.
    "coreset_size": 0,
    # "logreg": a classifier head on frozen embeddings; "finetune": fine-tune the encoder itself
    # (each round starting from the previous round's fine-tuned model).
    "trainer": "logreg",
    "finetune_epochs": 3,
    # What a round does after training, in order: any of noise, prelabel, generate, filter,
    # judge (each a job with the parameters in round_step_params[step]).
    "round_pipeline": [],
    "round_step_params": {},
    # Gates before a round trains (None / False: off).
    "gate_min_agreement": None,  # Krippendorff's alpha on labels since the last round
    "gate_min_spot_check_accuracy": None,  # auto-accepted LLM labels on spot checks
    "gate_contamination": True,  # no training record may duplicate a gold record
}


class Project(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    # The task types and their rules: annotation.task_types (its registry is the one list).
    task_type = models.CharField(
        max_length=32, choices=task_types.choices(), default=task_types.CLASSIFICATION
    )
    # [{"value": "positive", "name": "Positive"}, ...]; the order gives the number keys 1..9.
    labels = models.JSONField(default=list)
    guidelines = models.TextField(blank=True)
    settings = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def setting(self, key: str) -> Any:
        value = (self.settings or {}).get(key)
        return PROJECT_SETTING_DEFAULTS[key] if value is None else value

    @property
    def label_values(self) -> list[str]:
        return [str(label["value"]) for label in self.labels]


class Membership(models.Model):
    user = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "project"], name="membership_unique_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.role} of {self.project}"
