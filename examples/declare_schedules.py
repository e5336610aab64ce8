"""Declare schedules at start-up, from every instance of an app: ``PUT`` by name is an
idempotent upsert, so running this twice (or on ten instances) creates each schedule once
and an unchanged declaration makes no new version."""

from chronos import Chronos

SCHEDULES = {
    "hourly-tenant-sync": {
        "handler": "sync-tenant",
        "interval": {"value": 1, "unit": "hour"},
        "payload": {"full": False},
    },
    "nightly-invoices": {
        "handler": "charge-invoice",
        "cron": "0 2 * * *",
        "timezone": "America/New_York",
        "payload": {"invoiceId": "batch"},
        "tags": {"team": "billing"},
    },
}


def declare(chronos: Chronos) -> None:
    for name, body in SCHEDULES.items():
        schedule = chronos.schedules.upsert(name, **body)
        print(f"{schedule.name}: version {schedule.version}, next run {schedule.next_run_at}")


if __name__ == "__main__":
    with Chronos() as client:
        declare(client)
