"""The system of record: users, articles, intake sessions and their rules.

No Flask here: services take a SQLAlchemy session and an actor, flush, and
leave the commit to the caller (a view, a CLI command or a job).
"""
