"""Compatibility routes for the API shapes of seeds 003 (``/api/jobs``) and 004 (``/api/v1/jobs``).

Thin adapters: each route translates its seed's body into a ``/v1`` schedule body, calls the
same ``ScheduleService`` method as ``/v1/schedules`` and presents the result in the seed's own
field names (docs/compatibility.md). Authenticated like ``/v1`` (``chronos dev`` lets keyless
requests through as account ``default``).
"""
