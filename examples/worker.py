"""A worker in ten lines. Run it with ``python examples/worker.py`` or
``chronos worker examples.worker:chronos --concurrency 4`` (CHRONOS_URL, CHRONOS_API_KEY)."""

from chronos import Chronos, NonRetryable

chronos = Chronos()


@chronos.worker.handle("sync-tenant")
async def sync_tenant(ctx):
    tenants = ctx.payload.get("tenants", [])
    return {"synced": len(tenants), "attempt": ctx.attempt}


@chronos.worker.handle("charge-invoice")
def charge_invoice(ctx):  # a plain function runs in a thread
    if "invoiceId" not in ctx.payload:
        raise NonRetryable("payload has no invoiceId")  # fails the job, no retries
    return {"charged": ctx.payload["invoiceId"]}


if __name__ == "__main__":
    chronos.worker.start(concurrency=4)
