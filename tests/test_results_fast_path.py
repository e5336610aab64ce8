"""Plain successes take a shorter path than other results (one statement on PostgreSQL): a batch
mixing them with everything else still answers each item as the general path would."""

from __future__ import annotations

from tests.helpers import claim, claim_one, create_job, get_job, report


async def test_a_mixed_batch_without_repeats_answers_every_item_in_order(client, other_client):
    jobs = [await create_job(client, handler="h") for _ in range(4)]
    by_job = {j["id"]: j["execution_id"] for j in await claim(client, limit=4)}
    done, failing, repeated, canceled = (by_job[job["id"]] for job in jobs)
    await create_job(other_client, handler="h")
    foreign = await claim_one(other_client)
    await report(client, repeated, status="completed", output={"first": True})
    cancel = await client.post(f"/v1/jobs/{jobs[3]['id']}/cancel")
    assert cancel.json()["status"] == "canceled"

    response = await client.post(
        "/v1/worker/results",
        json={
            "results": [
                {"execution_id": done, "status": "completed", "output": {"n": 1}},
                {"execution_id": "exe_unknown", "status": "completed"},
                {"execution_id": failing, "status": "failed", "error": "e", "retryable": False},
                {"execution_id": foreign["execution_id"], "status": "completed"},
                {"execution_id": repeated, "status": "completed", "output": {"first": False}},
                {"execution_id": canceled, "status": "completed"},
            ]
        },
    )

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert [item.get("ok", item.get("error", {}).get("code")) for item in data] == [
        True,
        "not_found",
        True,
        "not_found",
        True,  # the same result again: accepted, nothing changes
        "execution_not_running",
    ]
    details = [await get_job(client, job["id"]) for job in jobs]
    assert [d["status"] for d in details] == ["completed", "failed", "completed", "canceled"]
    assert details[0]["result"] == {"n": 1}
    assert details[0]["executions"][0]["output"] == {"n": 1}
    assert details[2]["result"] == {"first": True}  # the repeat changed nothing
    assert details[3]["executions"][0]["status"] == "canceled"
    assert (await get_job(other_client, foreign["id"]))["status"] == "running"


async def test_a_success_with_an_error_is_recorded_with_its_error(client):
    job = await create_job(client, handler="h")
    claimed = await claim_one(client)
    response = await client.post(
        "/v1/worker/results",
        json={
            "results": [
                {
                    "execution_id": claimed["execution_id"],
                    "status": "completed",
                    "error": {"message": "warning: slow"},
                }
            ]
        },
    )
    assert response.json()["data"] == [{"execution_id": claimed["execution_id"], "ok": True}]
    detail = await get_job(client, job["id"])
    assert (detail["status"], detail["last_error"]) == ("completed", None)
    assert detail["executions"][0]["error"] == {"message": "warning: slow"}
