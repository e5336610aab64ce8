"""Fixed thresholds the engine, the services and the dashboard judge by alike.

They live in the domain so the engine (the scheduler's slot outcomes, the alert evaluator's
"no worker" rule) and the services (the overview, the fire ledger, the workers page) read one
value without the engine depending on a service module.
"""

from __future__ import annotations

# A fire more than this after its slot counts as late (the scheduler's slot metrics, a
# schedule's fire ledger and the overview).
LATE_AFTER_SECONDS = 10.0
# A worker that claimed within this long is polling; a handler none of them asks for has none.
WORKER_ALIVE_SECONDS = 60.0
