"""Full-text search over record payloads: a GIN index on the tsvector of the payload's strings.

PostgreSQL only (the expression must match curator.record_selectors.PayloadVector exactly for
the planner to use it); SQLite, which the demo uses, searches with a plain substring match.
"""

from django.db import migrations

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
    dependencies = [("curator", "0008_job_leases")]

    operations = [migrations.RunPython(create, drop)]
