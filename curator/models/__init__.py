from curator.models.audit import AuditEvent
from curator.models.documents import Document
from curator.models.embeddings import Embedding
from curator.models.jobs import Job, JobChunk
from curator.models.model_versions import ModelVersion
from curator.models.projects import Membership, Project, Role
from curator.models.records import (
    FilterDecision,
    LineageEdge,
    NoiseFlag,
    Origin,
    Record,
    ReviewState,
    RoutingDecision,
    Score,
    Split,
)
from curator.models.rounds import Round, RoundSnapshotItem
from curator.models.users import User

__all__ = [
    "AuditEvent",
    "Document",
    "Embedding",
    "FilterDecision",
    "Job",
    "JobChunk",
    "LineageEdge",
    "Membership",
    "ModelVersion",
    "NoiseFlag",
    "Origin",
    "Project",
    "Record",
    "ReviewState",
    "Role",
    "Round",
    "RoundSnapshotItem",
    "RoutingDecision",
    "Score",
    "Split",
    "User",
]
