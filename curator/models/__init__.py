from curator.models.audit import AuditEvent
from curator.models.embeddings import Embedding
from curator.models.jobs import Job, JobChunk
from curator.models.projects import Membership, Project, Role, TaskType
from curator.models.records import LineageEdge, Origin, Record, RoutingDecision, Score, Split
from curator.models.rounds import Round, RoundSnapshotItem
from curator.models.users import User

__all__ = [
    "AuditEvent",
    "Embedding",
    "Job",
    "JobChunk",
    "LineageEdge",
    "Membership",
    "Origin",
    "Project",
    "Record",
    "Role",
    "Round",
    "RoundSnapshotItem",
    "RoutingDecision",
    "Score",
    "Split",
    "TaskType",
    "User",
]
