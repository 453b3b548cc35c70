"""The first schema: versions, refs, runs, executions, checkpoints, file hashes.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "versions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("num_rows", sa.BigInteger, nullable=False),
        sa.Column("num_bytes", sa.BigInteger, nullable=False),
        sa.Column("num_shards", sa.Integer, nullable=False),
        sa.Column("columns", sa.Text, nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("execution_id", sa.Integer),
    )
    op.create_table(
        "refs",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("version_id", sa.String(64), sa.ForeignKey("versions.id"), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("kind", sa.String(20), nullable=False, server_default="dataset"),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("pipeline", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("ended_at", sa.Float),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("environment", sa.Text, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("outputs", sa.Text),
    )
    op.create_table(
        "executions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("step_id", sa.String(200), nullable=False),
        sa.Column("uses", sa.String(500), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("seconds", sa.Float),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("code_version", sa.String(200), nullable=False),
        sa.Column("inputs", sa.Text, nullable=False),
        sa.Column("output_version", sa.String(64)),
        sa.Column("quarantine_version", sa.String(64)),
        sa.Column("ledger", sa.Text),
        sa.Column("metrics", sa.Text),
        sa.Column("reason", sa.Text),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_executions_run_id", "executions", ["run_id"])
    op.create_index("ix_executions_fingerprint", "executions", ["fingerprint"])
    op.create_table(
        "checkpoints",
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("part", sa.Integer, primary_key=True),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "files",
        sa.Column("url", sa.String(2000), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("mtime", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    for table in ("files", "checkpoints", "executions", "runs", "refs", "versions"):
        op.drop_table(table)
