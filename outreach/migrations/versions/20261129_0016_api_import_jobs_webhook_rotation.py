"""api: import jobs of whole files (with their planned rows), webhook secret rotation

Revision ID: 0016
Revises: 0010
Create Date: 2026-11-29 11:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('webhook_subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('previous_secret', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('previous_secret_until', sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        'import_jobs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=12), nullable=False),
        sa.Column('filename', sa.String(length=200), nullable=False),
        sa.Column('format', sa.String(length=16), nullable=True),
        sa.Column('mapping', sa.JSON(), nullable=True),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=True),
        sa.Column('auto_apply', sa.Boolean(), nullable=False),
        sa.Column('progress_done', sa.Integer(), nullable=False),
        sa.Column('progress_total', sa.Integer(), nullable=True),
        sa.Column('source_kind', sa.String(length=16), nullable=True),
        sa.Column('digest', sa.String(length=16), nullable=True),
        sa.Column('counts', sa.JSON(), nullable=True),
        sa.Column('detected_mapping', sa.JSON(), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('import_run_id', sa.Integer(), nullable=True),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('actor', sa.String(length=100), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['import_run_id'], ['import_runs.id'], name=op.f('fk_import_jobs_import_run_id_import_runs'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_import_jobs_created_by_id_users'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_import_jobs')),
    )
    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_import_jobs_state'), ['state'], unique=False)

    op.create_table(
        'import_job_rows',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('job_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=12), nullable=False),
        sa.Column('line', sa.String(length=40), nullable=True),
        sa.Column('contact_id', sa.Integer(), nullable=True),
        sa.Column('display_name', sa.String(length=400), nullable=True),
        sa.Column('changes', sa.JSON(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['job_id'], ['import_jobs.id'], name=op.f('fk_import_job_rows_job_id_import_jobs'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_import_job_rows')),
    )
    with op.batch_alter_table('import_job_rows', schema=None) as batch_op:
        batch_op.create_index('ix_import_job_rows_job_kind', ['job_id', 'kind', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('import_job_rows', schema=None) as batch_op:
        batch_op.drop_index('ix_import_job_rows_job_kind')
    op.drop_table('import_job_rows')
    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_jobs_state'))
    op.drop_table('import_jobs')
    with op.batch_alter_table('webhook_subscriptions', schema=None) as batch_op:
        batch_op.drop_column('previous_secret_until')
        batch_op.drop_column('previous_secret')
