"""Use cases. Each takes a SQLAlchemy Session and plain arguments, enforces the rules, flushes
(never commits) and raises the domain errors of ``errors``. Nothing here knows about HTTP."""
