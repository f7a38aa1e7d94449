"""The app's bounded model queue: FIFO, the worker limit, and the busy answer beyond the bound
(no timing: threads are coordinated with events and the queue's own counters)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from app.model_queue import BUSY_SPARE, ModelQueue, ServerBusy, gradio_limits


def _wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def _holders(queue: ModelQueue, n: int, release: threading.Event, order: list[int]
             ) -> list[threading.Thread]:
    """``n`` threads that take a slot one after another (each joins the line only once the
    previous is in it or running) and hold it until ``release``."""
    def hold(k: int) -> None:
        with queue.slot():
            order.append(k)
            release.wait(30)

    threads = []
    for k in range(n):
        t = threading.Thread(target=hold, args=(k,), daemon=True)
        t.start()
        threads.append(t)
        _wait_until(lambda k=k: queue.running + queue.waiting == k + 1, f"holder {k} in line")
    return threads


def test_full_queue_refuses_at_once_with_the_apps_message() -> None:
    queue = ModelQueue(workers=1, queue_size=2)
    release, order = threading.Event(), []
    threads = _holders(queue, 3, release, order)  # 1 running + 2 waiting: full
    assert queue.running == 1 and queue.waiting == 2
    with pytest.raises(ServerBusy, match="busy") as caught:
        with queue.slot():
            pass
    message = str(caught.value)
    assert "try again in about" in message and "the queue holds 2" in message
    assert caught.value.retry_after_s >= 1.0 and queue.refused == 1
    release.set()
    for t in threads:
        t.join(30)
    assert order == [0, 1, 2]  # first come, first served
    assert queue.running == 0 and queue.waiting == 0 and queue.peak_waiting == 2
    with queue.slot():  # free again
        assert queue.running == 1


def test_two_workers_run_at_once_and_the_rest_wait_in_order() -> None:
    queue = ModelQueue(workers=2, queue_size=3)
    release, order = threading.Event(), []
    threads = _holders(queue, 5, release, order)
    assert queue.running == 2 and queue.waiting == 3 and sorted(order) == [0, 1]
    with pytest.raises(ServerBusy):
        with queue.slot():
            pass
    release.set()
    for t in threads:
        t.join(30)
    assert order[2:] == [2, 3, 4]


def test_queue_of_zero_serves_only_the_workers() -> None:
    queue = ModelQueue(workers=1, queue_size=0)
    release, order = threading.Event(), []
    threads = _holders(queue, 1, release, order)
    with pytest.raises(ServerBusy):
        with queue.slot():
            pass
    release.set()
    threads[0].join(30)
    with pytest.raises(ValueError, match="workers must be >= 1"):
        ModelQueue(workers=0, queue_size=4)


def test_gradio_is_sized_above_the_apps_bound() -> None:
    limit, guard = gradio_limits(workers=1, queue_size=32)
    assert limit == 1 + 32 + BUSY_SPARE  # every admitted request and a few refusals in the handler
    assert guard >= 4 * limit  # gradio's own "Queue is full" only for floods


def test_handler_answers_busy_in_the_page(tmp_path: Path) -> None:
    """The single-image and batch handlers turn a full queue into the app's message (page
    markdown and a ``busy`` details entry), not an exception."""
    from app.demo_bundle import build_demo_bundle
    from app.predict import Predictor
    from app.server import AppSettings, _grade_batch, _grade_single

    predictor = Predictor(build_demo_bundle(tmp_path / "run", image_size=32, source_size=48,
                                            n_folds=1))
    queue = ModelQueue(workers=1, queue_size=0)
    release, order = threading.Event(), []
    threads = _holders(queue, 1, release, order)
    markdown, label, original, overlay, details = _grade_single(
        predictor, AppSettings(), str(tmp_path / "x.png"), None, queue)
    assert markdown.startswith("### ⏳ Busy") and "try again" in markdown
    assert label is None and original is None and overlay is None
    assert details["busy"] is True and details["retry_after_s"] >= 1 and "busy" in details["error"]
    summary, rows, csv, _ = _grade_batch(predictor, AppSettings(), [str(tmp_path / "x.png")], queue)
    assert summary.startswith("### ⏳ Busy") and rows == [] and csv is None
    release.set()
    threads[0].join(30)
