"""The data manager's indexes: full-text search over record payloads (a GIN index on the tsvector
of the payload's strings), sorting by priority over every split, and sorting by a score.

The search index is PostgreSQL only (its expression must match curator.record_selectors.
PayloadVector exactly for the planner to use it); SQLite, which the demo uses, searches with a
plain substring match.
"""

from django.db import migrations, models

INDEX = "record_payload_fts"
CREATE = (
    f"CREATE INDEX IF NOT EXISTS {INDEX} ON curator_record USING gin "
    "(jsonb_to_tsvector('english'::regconfig, payload, '[\"string\"]'::jsonb))"
)


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("curator", "0010_project_description")]

    operations = [
        migrations.RunPython(create, drop),
        migrations.AddIndex(
            model_name="record",
            index=models.Index(fields=["project", "priority", "id"], name="record_priority_order"),
        ),
        migrations.AddIndex(
            model_name="score",
            index=models.Index(fields=["kind", "value"], name="score_kind_value"),
        ),
    ]
