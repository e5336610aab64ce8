"""The service layer: one entry point per operation, used by every front end.

The REST API's routers, the engine's background services and (later) the dashboard and the
CLI's server commands all call these methods; none of them writes SQL or applies a business
rule of its own. Each method runs in one transaction and sends the wake-ups its changes call
for once that transaction has committed.

- :class:`~chronos.server.services.jobs.JobService` — create, list, get, cancel, retry jobs.
- :class:`~chronos.server.services.schedules.ScheduleService` — schedules and their versions.
- :class:`~chronos.server.services.executions.ExecutionService` — claim, heartbeat, and the
  one result pipeline, :func:`~chronos.server.services.executions.finish_executions`.
- :class:`~chronos.server.services.accounts.AccountService` — API keys and signing secrets.
"""
