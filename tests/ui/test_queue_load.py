"""The window under load: many queued jobs with random cancels through the real host and window
(a pretend runner), each ending exactly once (benchmarks/stress/queue_load.py runs 500 for real)."""

from __future__ import annotations

from pathlib import Path

import qasync

from benchmarks.stress.queue_load import LoadConfig, build_studio, check, drive, final_kinds


def test_queued_jobs_with_random_cancels_each_end_once(tmp_path: Path, qapp) -> None:
    config = LoadConfig(jobs=120, steps=3, engine="scripted", submit_gap_s=0.05, timeout_s=300)
    studio, client = build_studio(tmp_path, config)
    loop = qasync.QEventLoop(qapp)
    try:
        facts = loop.run_until_complete(drive(studio, client, config))
    finally:
        loop.close()
    assert not studio.client.alive
    assert len(facts.sent) == 120
    assert check(client, facts) == []
    kinds = final_kinds(client, facts)
    assert sum(kinds.values()) == 120
    assert kinds["JobFinished"] and kinds["JobCancelled"], kinds
    assert facts.chaos is not None and facts.chaos.actions["remove via panel"] > 0
