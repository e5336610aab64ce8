async def test_create_and_claim_a_job(client):
    created = await client.post("/v1/jobs", json={"handler": "h", "payload": {"a": 1}})
    assert created.status_code == 201, created.text
    claimed = await client.post("/v1/worker/jobs/claim", json={"handlers": ["h"], "wait_seconds": 0})
    assert claimed.status_code == 200
    assert [j["id"] for j in claimed.json()["jobs"]] == [created.json()["id"]]
