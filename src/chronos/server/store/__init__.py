"""The store: every SQL statement Chronos runs lives in this package.

Functions are named ``noun_verb`` (``job_claim_ready``, ``schedule_lock_due``), take an open
``AsyncConnection`` as their first argument and the current time as ``now`` where they need it.
Callers own the transaction (see :class:`chronos.server.store.db.Database`).
"""
