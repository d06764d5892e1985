"""Page classification in a child process while the worker shares the server's process
(``contextual/process.py``): the same results as in process, a child that died is replaced,
one that dies mid-call fails that call, and the child exits with its server."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from tests.contextual.site.server import OPEN_FETCH, LocalSite

from beacon.app import create_app
from beacon.contextual import classification_repository as store
from beacon.contextual import fetch, pages, process, service, tasks
from beacon.contextual.fetch import FetchSettings
from beacon.contextual.process import ClassifierProcess, ClassifierUnavailable
from beacon.core.config import Settings
from beacon.core.db import Database
from beacon.core.timefmt import utcnow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def module_site() -> Iterator[LocalSite]:
    with LocalSite() as running:
        yield running


@pytest.fixture(scope="module")
def child() -> Iterator[ClassifierProcess]:
    """One child for the module: starting one loads the models (seconds)."""
    classifier = ClassifierProcess()
    yield classifier
    classifier.close()


def _wait_for(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purpose: it runs nothing
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _fail_a_slow_call(
    classifier: ClassifierProcess,
    site: LocalSite,
    interrupt: Callable[[], object],
    total_timeout: float = 20.0,
) -> BaseException | object:
    """Call ``classifier`` on the site's slow page from a thread, run ``interrupt`` once the
    page is being fetched, and return what the call raised (or answered)."""
    limits = FetchSettings(
        allow_private_networks=True, read_timeout=total_timeout, total_timeout=total_timeout
    )
    before = site.hits["/slow.html"]
    outcome: list[BaseException | object] = []

    def call() -> None:
        try:
            outcome.append(classifier.classify([site.url("/slow.html")], limits, 1, None))
        except BaseException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    _wait_for(lambda: site.hits["/slow.html"] > before)
    interrupt()
    caller.join(30)
    assert not caller.is_alive() and len(outcome) == 1, outcome
    return outcome[0]


def test_the_child_answers_what_the_server_would(
    child: ClassifierProcess, module_site: LocalSite
) -> None:
    urls = [module_site.url("/football.html"), module_site.url("/missing.html")]
    args = (urls, FetchSettings(allow_private_networks=True), 4, None)
    remote = child.classify(*args)
    local = pages.classify_here(*args)
    assert child.pids and os.getpid() not in child.pids
    assert [r.url for r in remote] == urls
    assert remote[0].classification is not None and remote[0].error is None
    assert remote[0].classification["iab_categories"][0]["id"].startswith("IAB17")
    assert remote[0].classification == local[0].classification
    assert remote[0].title == local[0].title and remote[0].language == local[0].language
    assert remote[1].classification is None and remote[1].error == local[1].error
    assert remote[1].error is not None and "404" in remote[1].error
    stats = child.stats()
    assert (stats.starts, stats.deaths, stats.calls) == (1, 0, 1)
    assert stats.pages == {"classified": 1, "failed": 1, "lost": 0}
    assert stats.call_seconds > 0
    # the child runs below the server's priority
    assert os.getpriority(os.PRIO_PROCESS, child.pids[0]) >= process.NICENESS


def test_a_dead_child_is_replaced_and_a_death_mid_call_fails_that_call(
    child: ClassifierProcess, module_site: LocalSite
) -> None:
    limits = FetchSettings(allow_private_networks=True, read_timeout=20.0, total_timeout=20.0)
    football = module_site.url("/football.html")
    child.classify([football], limits, 2, None)
    (first,) = child.pids
    counted = child.stats()
    os.kill(first, signal.SIGKILL)
    _wait_for(lambda: not _alive(first))
    # noticed before any call: /metrics reads it down, and the death is counted
    _wait_for(lambda: not child.running, timeout=5)
    assert child.stats().deaths == counted.deaths + 1
    # died between two calls: the next call gets a new child
    assert child.classify([football], limits, 2, None)[0].classification is not None
    (second,) = child.pids
    assert second != first

    # dies while it holds a call (a page that takes seconds to arrive): that call fails
    failure = _fail_a_slow_call(child, module_site, lambda: os.kill(second, signal.SIGKILL))
    assert isinstance(failure, ClassifierUnavailable), failure
    assert child.pids == []  # discarded; the next call starts a new one
    after = child.stats()
    # the first death is replaced by the next call; the second is not (no call since)
    assert (after.starts, after.deaths) == (counted.starts + 1, counted.deaths + 2)
    assert after.calls == counted.calls + 2
    assert after.pages["classified"] == counted.pages["classified"] + 1
    assert after.pages["lost"] == counted.pages["lost"] + 1


def test_closing_fails_a_waiting_call_as_stopped_not_as_a_death(
    module_site: LocalSite, caplog: pytest.LogCaptureFixture
) -> None:
    classifier = ClassifierProcess()
    failure = _fail_a_slow_call(classifier, module_site, classifier.close)
    assert isinstance(failure, ClassifierUnavailable), failure
    assert "stopped" in str(failure)
    assert classifier.stats().deaths == 0
    assert "died" not in caplog.text


class _RecordingChild:
    """Stands in for the child: records the size of each call, answers every page."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def classify(
        self,
        urls: list[str],
        limits: FetchSettings,
        parallel: int,
        min_confidence: object,
        holds: object = (),
    ) -> list[pages.PageResult]:
        self.calls.append(list(urls))
        return [
            pages.PageResult(url=url, classification=None, error="x", classified_at=utcnow())
            for url in urls
        ]


def test_the_worker_calls_the_child_a_few_rounds_at_a_time(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording = _RecordingChild()
    monkeypatch.setattr(process, "_current_child", recording)
    two_at_once = settings.model_copy(
        update={"classification_parallel_fetches": 2, "worker_concurrency": 3}
    )
    urls = [f"https://example.com/{i}" for i in range(19)]
    results = service.classify_pages(urls=urls, settings=two_at_once, transaction=None)
    size = service.CHILD_CALL_ROUNDS * 2
    assert [len(call) for call in recording.calls] == [size, size, 19 - 2 * size]
    assert [r.url for r in results] == urls
    # the store's claim lease covers the other two worker threads' calls queued ahead
    assert service.child_queue_seconds(two_at_once) == 2 * size / 2 * settings.fetch_total_timeout


def test_a_url_the_caller_waits_for_is_classified_in_the_server(
    settings: Settings, db: Database, module_site: LocalSite, api_key: str
) -> None:
    in_process = settings.model_copy(update={"worker_in_process": True, **OPEN_FETCH})
    app = create_app(in_process)
    app.state.db.dispose()
    app.state.db = db
    with TestClient(app) as client:
        answered = client.post(
            "/v1/clsfy/classify",
            json={"url": module_site.url("/football.html")},
            headers={"X-API-Key": api_key},
        )
        assert answered.status_code == 200, answered.text
        assert answered.json()["classification"]["iab_categories"][0]["id"].startswith("IAB17")
        child = app.state.classifier_process
        # not queued behind the worker's batches in the child: the child never started
        assert child.stats().calls == 0 and child.pids == []


def test_a_closed_classifier_refuses_calls() -> None:
    classifier = ClassifierProcess()
    classifier.close()
    with pytest.raises(ClassifierUnavailable):
        classifier.classify(["http://127.0.0.1:9/"], FetchSettings(), 1, None)


def test_the_child_exits_when_its_server_is_killed() -> None:
    script = textwrap.dedent(
        """
        import os, signal, sys
        from beacon.contextual.fetch import FetchSettings
        from beacon.contextual.process import ClassifierProcess
        child = ClassifierProcess()
        child.classify([], FetchSettings(), 1, None)  # starts the child, loads no model
        print(child.pids[0], flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    server = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert server.returncode == -signal.SIGKILL, server.stderr
    orphan = int(server.stdout.split()[0])
    _wait_for(lambda: not _alive(orphan), timeout=10)


def test_only_a_server_running_its_worker_classifies_in_a_child(settings: Settings) -> None:
    assert process.current() is None
    with TestClient(create_app(settings, run_worker=False)):
        assert process.current() is None
    in_process = settings.model_copy(update={"worker_in_process": True})
    app = create_app(in_process)
    with TestClient(app) as client:
        current = process.current()
        assert current is not None and current is app.state.classifier_process
        assert current.pids == []  # started by the first page, not by the server
        # its counters are in the app's /metrics, beside the other domains'
        exposed = client.get("/metrics")
        assert exposed.status_code == 200
        assert "beacon_classifier_process_up 0.0" in exposed.text
        assert "beacon_classifier_process_starts_total 0.0" in exposed.text
        assert 'beacon_classifier_pages_total{outcome="lost"} 0.0' in exposed.text
        assert "beacon_classifier_call_seconds_count 0.0" in exposed.text
        assert "beacon_pixel_hits_flushed_total" in exposed.text
    assert process.current() is None
    assert b"beacon_classifier" not in generate_latest(app.state.metrics)
    with pytest.raises(ClassifierUnavailable):
        current.classify([], service.fetch_settings(settings), 1, None)


def test_a_child_that_stops_answering_is_killed_and_that_call_fails(
    module_site: LocalSite,
) -> None:
    # A stopped (or deadlocked) child held the call, and every batch and tick after it, for
    # good: the runner's heartbeat kept the batch's lease, so it stayed "processing".
    classifier = ClassifierProcess(seconds_per_page=1.0, margin_seconds=2.0)
    try:
        warm = FetchSettings(allow_private_networks=True, total_timeout=60.0)
        football = module_site.url("/football.html")
        assert classifier.classify([football], warm, 1, None)[0].classification is not None
        (first,) = classifier.pids
        started = time.monotonic()
        failure = _fail_a_slow_call(
            classifier, module_site, lambda: os.kill(first, signal.SIGSTOP), total_timeout=6.0
        )
        assert isinstance(failure, ClassifierUnavailable), failure
        assert "did not answer" in str(failure)
        assert time.monotonic() - started < 20  # the deadline: 6 s + 1 s + 2 s
        _wait_for(lambda: not _alive(first), timeout=15)
        assert classifier.stats().pages["lost"] == 1
        # the next call gets a new child
        assert classifier.classify([football], warm, 1, None)[0].classification is not None
        assert classifier.pids and classifier.pids[0] != first
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(first, signal.SIGKILL)
        classifier.close()


def test_a_sites_wait_is_shared_by_the_server_and_its_child(
    settings: Settings, child: ClassifierProcess, site: LocalSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A site's hold after its 429/503 lives in the memory of the process that met it: the
    # server's API requests asked for pages of a site the worker's child had been told to
    # leave alone, and the child for pages of a site the server had.
    monkeypatch.setattr(process, "_current_child", child)
    opened = settings.model_copy(update={**OPEN_FETCH, "classification_parallel_fetches": 1})
    site.every_page_status, site.retry_after = 429, "120"
    [throttled] = service.classify_pages(
        urls=[site.url("/football.html")], settings=opened, transaction=None
    )
    assert throttled.error is not None and "HTTP status 429" in throttled.error
    # in the server
    held = service.classify_page(url=site.url("/pasta.html"), settings=opened, transaction=None)
    assert held.held and held.error is not None and held.error.startswith("not fetched:")
    assert sum(site.hits.values()) == 1

    with LocalSite() as other:
        other.every_page_status, other.retry_after = 503, "120"
        asked = service.classify_page(
            url=other.url("/football.html"), settings=opened, transaction=None
        )
        assert asked.error is not None and "HTTP status 503" in asked.error
        urls = [other.url("/pasta.html"), site.url("/gadgets.html")]
        results = service.classify_pages(urls=urls, settings=opened, transaction=None)
        assert [(r.url, r.held) for r in results] == [(url, True) for url in urls]
        assert sum(other.hits.values()) == 1 and sum(site.hits.values()) == 1

        # A page of a site not held that redirects into one the server holds: the child
        # followed the redirect and asked the held site (it knew only its own holds).
        with LocalSite() as third:
            hop = third.url(f"/to/{other.base.split('://', 1)[1]}/gadgets.html")
            [redirected] = service.classify_pages(urls=[hop], settings=opened, transaction=None)
            assert redirected.error is not None and redirected.error.startswith("not fetched:")
            assert third.hits[hop.split(third.base, 1)[1]] == 1
            assert sum(other.hits.values()) == 1


def test_a_wait_the_child_met_is_stored_for_the_other_processes(
    db: Database,
    settings: Settings,
    child: ClassifierProcess,
    site: LocalSite,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The hold the server's child met came back to the server's memory only: a standalone
    # `beacon worker` beside it asked the site again at once.
    monkeypatch.setattr(process, "_current_child", child)
    opened = settings.model_copy(update={**OPEN_FETCH, "classification_parallel_fetches": 1})
    site.every_page_status, site.retry_after = 429, "120"
    with db.transaction() as session:
        store.request_classification(session, [(site.url("/football.html"), "127.0.0.1")])
    assert tasks.classify_due_rows(db=db, settings=opened) == 1  # in the server's child
    assert sum(site.hits.values()) == 1

    monkeypatch.setattr(process, "_current_child", None)  # a standalone worker fetches itself
    fetch.clear_robots_cache()  # and holds nothing in its memory
    site.every_page_status = None  # a request would be answered, and counted
    with db.transaction() as session:
        store.request_classification(session, [(site.url("/pasta.html"), "127.0.0.1")])
    assert tasks.classify_due_rows(db=db, settings=opened) == 1
    assert sum(site.hits.values()) == 1
