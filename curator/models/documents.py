from __future__ import annotations

from django.conf import settings
from django.db import models

from curator.models.projects import Project


class Document(models.Model):
    """A text a curator uploaded for knowledge-grounded generation, cut into chunks that
    generated items cite (Record.source: {"document": id, "chunk": index})."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="documents")
    name = models.CharField(max_length=255)
    text = models.TextField()
    chunks = models.JSONField(default=list)
    content_hash = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "content_hash"], name="document_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({len(self.chunks)} chunks)"
