"""Render processes run in scheduling groups of their own: at the default group weight while
their calls stay cheap (a send's chunk), demoted to nice 10 for good once a call burns more
than its CPU budget (a hostile template)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from tests.support import wait_for

from beacon.messaging.templates import render_pool
from beacon.messaging.templates.rendering import RenderError

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/autogroup").exists(), reason="no autogroup scheduling here"
)
BURN = "{% for i in range(10000) %}{% for j in range(50) %}{% for k in range(4) %}{% endfor %}{% endfor %}{% endfor %}done"


def _group_nice(pid: int) -> int:
    # "/autogroup-123 nice 10"
    return int(Path(f"/proc/{pid}/autogroup").read_text().split()[-1])


def _render(pool: render_pool.RenderPool, body: str) -> object:
    [result] = pool.render(channel="sms", content={"body": body}, items=[({}, None)], wait=True)
    return result


def test_cheap_renders_keep_their_process_at_the_default_group_weight() -> None:
    pool = render_pool.RenderPool(1)
    try:
        assert _render(pool, "{{ 1 + 1 }}") == {"body": "2"}
        [pid] = pool.pids()
        for _ in range(5):
            assert _render(pool, "{{ 2 + 2 }}") == {"body": "4"}
        assert pool.pids() == [pid]  # kept, not replaced
        assert pool.replaced == 0
        assert _group_nice(pid) == 0
        assert os.getpriority(os.PRIO_PROCESS, pid) >= render_pool.NICENESS  # within its group
        assert os.getsid(pid) == pid  # a session, hence an autogroup, of its own
    finally:
        pool.close()


def test_a_call_past_its_cpu_budget_demotes_its_process_for_good() -> None:
    pool = render_pool.RenderPool(1, wall_seconds=60, cpu_seconds=30, demote_cpu_seconds=0.05)
    try:
        assert _render(pool, "warm") == {"body": "warm"}
        [pid] = pool.pids()
        results: list[object] = []

        def burn() -> None:
            try:
                results.append(_render(pool, BURN))
            except RenderError as exc:  # its own 2 s deadline, on a loaded machine
                results.append(exc)

        worker = threading.Thread(target=burn)
        worker.start()
        seen: list[int] = []

        def demoted() -> bool:
            seen.append(_group_nice(pid))
            return seen[-1] == render_pool.NICENESS or bool(results)

        wait_for(demoted, "the burning render's group to be demoted", timeout=60)
        worker.join(60)
        assert render_pool.NICENESS in seen, seen  # demoted while it was still rendering
        [result] = results
        if isinstance(result, RenderError):  # the in-process deadline, not a kill
            assert "took longer than" in str(result), result
        else:
            assert result == {"body": "done"}
        assert pool.replaced == 0  # demoted, kept (warm) at the lower weight
        assert pool.pids() == [pid]
        assert _group_nice(pid) == render_pool.NICENESS
        assert _render(pool, "{{ 3 + 3 }}") == {"body": "6"}
        assert _group_nice(pid) == render_pool.NICENESS
    finally:
        pool.close()
