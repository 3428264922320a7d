"""The shared core: settings, the job states and schema, the database and JobStore, the spool, job
options, the transcript model and file utilities. Standard library, SQLAlchemy and Alembic only;
every other package may import it, it imports none of them."""
