"""The notifier's change messages, which drive the dashboard's live pages."""

from __future__ import annotations

from chronos.server.notifier import Message, Notifier


async def test_changes_are_coalesced_per_account_and_topic():
    notifier = Notifier()
    heard: list[tuple[str, str]] = []
    sent: list[Message] = []
    notifier.on_change(lambda account, topic: heard.append((account, topic)))
    notifier.broadcast = sent.append
    for _ in range(100):
        notifier.changed("acc_a", "jobs")
    notifier.changed("acc_a", "schedules")
    notifier.changed("acc_b", "jobs")
    assert heard == []  # gathered until the flush (a timer, CHANGE_COALESCE_SECONDS)
    notifier.flush_changes()
    assert sorted(heard) == [("acc_a", "jobs"), ("acc_a", "schedules"), ("acc_b", "jobs")]
    assert sorted(sent) == [
        ("changed", "acc_a", "jobs"),
        ("changed", "acc_a", "schedules"),
        ("changed", "acc_b", "jobs"),
    ]


async def test_changes_from_another_node_reach_listeners_and_can_be_removed():
    notifier = Notifier()
    heard: list[tuple[str, str]] = []
    remove = notifier.on_change(lambda account, topic: heard.append((account, topic)))
    notifier.receive(("changed", "acc_a", "workers"))
    remove()
    notifier.receive(("changed", "acc_a", "jobs"))
    assert heard == [("acc_a", "workers")]


async def test_jobs_becoming_ready_tell_their_accounts():
    notifier = Notifier()
    heard: list[tuple[str, str]] = []
    notifier.on_change(lambda account, topic: heard.append((account, topic)))
    rows = [
        {"account_id": "acc_a", "handler": "h", "status": "ready"},
        {"account_id": "acc_b", "handler": None, "status": "queued"},
    ]
    notifier.jobs_ready_many(rows)
    notifier.flush_changes()
    assert sorted(heard) == [("acc_a", "jobs"), ("acc_b", "jobs")]
