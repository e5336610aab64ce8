"""A push receiver (FastAPI) that checks every request really comes from Chronos.

    CHRONOS_SIGNING_SECRET=whsec_… uvicorn examples.push_receiver:app --port 9000

Get the secret with ``GET /v1/signing-secrets``; point a job or schedule's
``delivery.http.url`` at ``http://…:9000/hooks/chronos``.
"""

import os

from fastapi import FastAPI, HTTPException, Request

from chronos.webhooks import InvalidSignature, verify

app = FastAPI()
SECRET = os.environ.get("CHRONOS_SIGNING_SECRET", "")


@app.post("/hooks/chronos")
async def chronos_hook(request: Request) -> dict:
    body = await request.body()  # the raw bytes: the signature covers them exactly
    try:
        verify(body, request.headers, SECRET)
    except InvalidSignature as exc:
        # A 4xx is a terminal failure for Chronos: a forged request is not retried.
        raise HTTPException(status_code=401, detail=str(exc)) from exc
    job = await request.json()
    print(f"job {job['job_id']} attempt {job['attempt']}: {job['payload']}")
    return {"ok": True}
