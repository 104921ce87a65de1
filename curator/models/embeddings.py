from __future__ import annotations

from django.db import models


class Embedding(models.Model):
    """Encoder output cached by content and model: identical text is embedded once, ever."""

    content_hash = models.CharField(max_length=64)
    model_identity = models.CharField(max_length=300)
    dimensions = models.PositiveIntegerField()
    vector = models.BinaryField()  # float32, little-endian
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["content_hash", "model_identity"], name="embedding_natural_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.model_identity} embedding of {self.content_hash[:12]}"
