"""The app's bounded model queue: FIFO, the worker limit, and the busy answer beyond the bound
(no timing: threads are coordinated with events and the queue's own counters)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from png_bytes import cv2_png, smooth_scan

from app.model_queue import BUSY_SPARE, ModelQueue, ServerBusy, Turn, gradio_limits


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


class _RecordingQueue(ModelQueue):
    """A :class:`ModelQueue` that keeps each request's :class:`app.model_queue.Turn`, in the
    order they took a slot (``turns``), for their ``passed`` counts."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.turns: list[Turn] = []

    @contextmanager
    def slot(self) -> Iterator[Turn]:
        with super().slot() as turn:
            self.turns.append(turn)
            yield turn


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
    assert markdown.startswith("## ⏳ Busy") and "try again" in markdown
    assert label is None and original is None and overlay is None
    assert details["busy"] is True and details["retry_after_s"] >= 1 and "busy" in details["error"]
    summary, rows, csv, _ = _grade_batch(predictor, AppSettings(), [str(tmp_path / "x.png")], queue)
    assert summary.startswith("## ⏳ Busy") and rows == [] and csv is None
    release.set()
    threads[0].join(30)


def test_pass_on_lets_the_line_go_first_and_keeps_the_bound() -> None:
    """A request of many parts (a batch) hands its slot to whoever waits between two parts
    and waits at the back of the line; with no one waiting it keeps the slot. The line does
    not grow by the hand-over, so a full line still refuses newcomers, and the request is
    never refused itself."""
    queue = ModelQueue(workers=1, queue_size=1)
    order: list[str] = []
    part_done, single_in_line = threading.Event(), threading.Event()

    def batch() -> None:
        with queue.slot() as turn:
            order.append("batch 1")
            assert turn.pass_on() is False  # no one waits: the slot is kept, at once
            part_done.set()
            single_in_line.wait(30)
            assert turn.pass_on() is True  # the single image waits: it goes first
            order.append("batch 2")
            assert turn.passed == 1 and turn.holding

    def single() -> None:
        with queue.slot():
            order.append("single")

    b = threading.Thread(target=batch, daemon=True)
    b.start()
    assert part_done.wait(30)
    s = threading.Thread(target=single, daemon=True)
    s.start()
    _wait_until(lambda: queue.waiting == 1, "the single image in line")
    with pytest.raises(ServerBusy):  # the line (1) is full while the batch runs
        with queue.slot():
            pass
    single_in_line.set()
    b.join(30)
    s.join(30)
    assert not b.is_alive() and not s.is_alive()
    assert order == ["batch 1", "single", "batch 2"]
    assert queue.running == 0 and queue.waiting == 0 and queue.refused == 1
    assert queue.peak_waiting == 1  # the hand-over did not lengthen the line


def test_pass_on_while_a_full_line_waits_keeps_it_full_not_longer() -> None:
    """During the hand-over the batch takes the place the first in line leaves: a newcomer
    who arrives while the batch waits its next turn is refused as before."""
    queue = ModelQueue(workers=1, queue_size=1)
    order: list[str] = []
    passing, single_running, release_single = threading.Event(), threading.Event(), threading.Event()

    def batch() -> None:
        with queue.slot() as turn:
            order.append("batch 1")
            _wait_until(lambda: queue.waiting == 1, "the single image in line")
            passing.set()
            turn.pass_on()
            order.append("batch 2")

    def single() -> None:
        with queue.slot():
            order.append("single")
            single_running.set()
            release_single.wait(30)

    b = threading.Thread(target=batch, daemon=True)
    b.start()
    _wait_until(lambda: queue.running == 1, "the batch running")
    s = threading.Thread(target=single, daemon=True)
    s.start()
    assert passing.wait(30) and single_running.wait(30)
    _wait_until(lambda: queue.waiting == 1, "the batch back in line")
    assert queue.running == 1 and order == ["batch 1", "single"]
    with pytest.raises(ServerBusy):  # the single image runs, the batch waits: full
        with queue.slot():
            pass
    release_single.set()
    b.join(30)
    s.join(30)
    assert order == ["batch 1", "single", "batch 2"] and queue.running == 0 and queue.waiting == 0


def test_a_batch_lets_a_waiting_single_image_go_between_two_of_its_images(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Trial finding F4: a 4-file batch of large images held the only model slot for 16 s
    while single images waited. Now the batch takes the slot per image: a single image that
    joins the line while the batch reads its first file is read and graded before the batch's
    second file, and both results are complete. No timing: the first file's read blocks on an
    event until the single image is in line."""
    import app.server as server
    from app.demo_bundle import build_demo_bundle
    from app.predict import Predictor
    from app.server import AppSettings, _grade_batch, _grade_single

    predictor = Predictor(build_demo_bundle(tmp_path / "run", image_size=32, source_size=48,
                                            n_folds=1))
    paths = []
    for seed, name in enumerate(("b1.png", "b2.png", "b3.png", "single.png")):
        (tmp_path / name).write_bytes(cv2_png(smooth_scan((64, 64), seed=seed)))
        paths.append(str(tmp_path / name))
    queue = _RecordingQueue(workers=1, queue_size=4)
    reads: list[str] = []
    first_read, go = threading.Event(), threading.Event()
    real = server._load

    def load(path: str | None, *args: object, **kwargs: object) -> object:
        name = Path(str(path)).name
        reads.append(name)
        if name == "b1.png":
            first_read.set()
            assert go.wait(30), "the test never let the first batch file go"
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(server, "_load", load)
    results: dict[str, object] = {}
    batch = threading.Thread(target=lambda: results.update(
        batch=_grade_batch(predictor, AppSettings(), paths[:3], queue)), daemon=True)
    batch.start()
    assert first_read.wait(30)
    single = threading.Thread(target=lambda: results.update(
        single=_grade_single(predictor, AppSettings(gradcam=False), paths[3], None, queue)),
        daemon=True)
    single.start()
    _wait_until(lambda: queue.waiting == 1, "the single image in line behind the batch")
    go.set()
    batch.join(60)
    single.join(60)
    assert not batch.is_alive() and not single.is_alive()
    assert reads == ["b1.png", "single.png", "b2.png", "b3.png"]  # the single between two
    # the batch handed its slot over once (before b2), the single image never; no timing (the
    # summary's "waiting between images" is said only for a wait of 0.05 s or more)
    assert [turn.passed for turn in queue.turns] == [1, 0]
    summary, rows, csv_path, notes_path = results["batch"]  # type: ignore[misc]
    assert "3 images graded" in summary
    assert [r[0] for r in rows] == ["b1.png", "b2.png", "b3.png"] and csv_path and notes_path
    markdown, label, *_ = results["single"]  # type: ignore[misc]
    assert label is not None and "Busy" not in markdown
    assert queue.running == 0 and queue.waiting == 0 and queue.refused == 0


def test_no_newcomer_is_admitted_while_a_full_line_s_slot_changes_hands() -> None:
    """Review F5: between a batch's hand-over (:meth:`Turn.pass_on` frees the slot and joins
    the line) and the first in line taking the slot, the slot is free while the line is full;
    the queue counted a newcomer then against the line alone and admitted it past the bound.
    The moment is held still here: the two who wait are tickets no thread takes up, so the
    slot stays free and the batch waits behind them until the test lets them go."""
    queue = ModelQueue(workers=1, queue_size=2)
    first, second = object(), object()
    passed, newcomer_done = threading.Event(), threading.Event()
    said: list[str] = []

    def batch() -> None:
        with queue.slot() as turn:
            with queue._cond:  # a full line: two requests wait (tickets only)
                queue._waiting.extend((first, second))
            passed.set()
            turn.pass_on()  # frees the slot; waits behind the two

    def newcomer() -> None:
        try:
            with queue.slot():
                said.append("admitted")
        except ServerBusy:
            said.append("busy")
        newcomer_done.set()

    b = threading.Thread(target=batch, daemon=True)
    b.start()
    assert passed.wait(30)
    _wait_until(lambda: queue.running == 0 and queue.waiting == 3, "the batch in line, the slot free")
    n = threading.Thread(target=newcomer, daemon=True)
    n.start()
    _wait_until(lambda: newcomer_done.is_set() or queue.waiting == 4, "the newcomer answered or in line")
    assert said == ["busy"] and queue.refused == 1 and queue.peak_waiting <= 2
    with queue._cond:  # the two who waited leave: the batch takes its turn and finishes
        queue._waiting.remove(first)
        queue._waiting.remove(second)
        queue._cond.notify_all()
    b.join(30)
    n.join(30)
    assert not b.is_alive() and queue.running == 0 and queue.waiting == 0


def test_stress_a_batch_handing_over_under_a_stream_of_singles_keeps_the_bound() -> None:
    """Review F5, under load: a batch hands its slot over 300 times while 4 threads send
    single requests as fast as they are answered; at no moment may more than ``queue_size``
    requests have been admitted to wait. The old admission rule (the line alone, once the slots
    were taken) let all 4 in, in 40 of 40 runs of this test; a bounded number of steps, no
    timing."""
    queue = ModelQueue(workers=1, queue_size=2)
    done = threading.Event()
    passed: list[int] = []
    most_admitted = [0]

    def batch() -> None:
        try:
            with queue.slot() as turn:
                for _ in range(300):
                    time.sleep(0)  # let the singles run
                    turn.pass_on()
                passed.append(turn.passed)
        finally:
            done.set()

    def single() -> None:
        for _ in range(100_000):  # bounded, whatever the scheduling
            if done.is_set():
                return
            try:
                with queue.slot():
                    with queue._cond:
                        most_admitted[0] = max(most_admitted[0], queue._running + len(queue._waiting))
                    time.sleep(0)
            except ServerBusy:
                time.sleep(0)

    threads = [threading.Thread(target=batch, daemon=True),
               *(threading.Thread(target=single, daemon=True) for _ in range(4))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert passed and 0 < passed[0] <= 300  # it handed over, and was never refused
    assert queue.peak_waiting <= queue.queue_size, queue.peak_waiting
    assert most_admitted[0] <= queue.workers + queue.queue_size
    assert queue.running == 0 and queue.waiting == 0


def test_the_busy_estimate_counts_a_batch_s_turns_as_one_request() -> None:
    """Review F8: the retry estimate is the median time a request holds the model; a batch's
    hold is all its turns together (recorded once, when it is done), not each turn apart, which
    made a long batch look like several short requests. A fake clock, set by the test between
    the steps: the batch holds 10 s, hands over to a single image (1 s), then holds 20 s more."""
    now = [0.0]
    queue = ModelQueue(workers=1, queue_size=1, clock=lambda: now[0])
    single_in_line, hand_over, single_running, single_go, batch_back, batch_go = (
        threading.Event() for _ in range(6))

    def batch() -> None:
        with queue.slot() as turn:  # t = 0
            assert hand_over.wait(30)
            assert turn.pass_on() is True  # at t = 10
            batch_back.set()  # back at t = 11
            assert batch_go.wait(30)  # done at t = 31

    def single() -> None:
        with queue.slot():  # t = 10
            single_running.set()
            assert single_go.wait(30)  # done at t = 11

    b = threading.Thread(target=batch, daemon=True)
    b.start()
    _wait_until(lambda: queue.running == 1, "the batch running")
    s = threading.Thread(target=single, daemon=True)
    s.start()
    _wait_until(lambda: queue.waiting == 1, "the single image in line")
    now[0] = 10.0
    hand_over.set()
    assert single_running.wait(30)
    now[0] = 11.0
    single_go.set()
    assert batch_back.wait(30)
    now[0] = 31.0
    batch_go.set()
    b.join(30)
    s.join(30)
    assert not b.is_alive() and not s.is_alive()
    assert sorted(queue._recent) == [1.0, 30.0]  # two requests: the single's 1 s, the batch's 10 + 20 s
    release, order = threading.Event(), []
    threads = _holders(queue, 2, release, order)  # full: 1 running, 1 waiting
    with pytest.raises(ServerBusy) as caught:
        with queue.slot():
            pass
    # the median of the holds (30 s: the upper one of two) times the 2 requests ahead
    assert caught.value.retry_after_s == 60.0 and "about 60 s" in str(caught.value)
    release.set()
    for t in threads:
        t.join(30)


@pytest.mark.parametrize("fails_at", [1, 2])
def test_a_clock_that_raises_gives_the_slot_back(fails_at: int) -> None:
    """Review F7: the turn (which reads the clock) was made after the slot was taken but
    outside the ``try`` that gives it back; the clock read when the request ends could keep it
    too. A clock raising at its first read (taking the turn) or its second (ending it) leaves
    no slot taken: the next request runs."""
    calls = [0]

    def clock() -> float:
        calls[0] += 1
        if calls[0] == fails_at:
            raise RuntimeError("the clock broke")
        return float(calls[0])

    queue = ModelQueue(workers=1, queue_size=0, clock=clock)
    with pytest.raises(RuntimeError, match="the clock broke"), queue.slot():
        pass
    assert queue.running == 0 and queue.waiting == 0
    with queue.slot() as turn:  # not ServerBusy: the slot is free
        assert turn.holding and queue.running == 1
    assert queue.running == 0


def test_a_stopping_server_finishes_what_it_admitted_and_tells_newcomers_it_restarts() -> None:
    """A load test: a SIGTERM 1.5 s after 10 users submitted dropped all of them (gradio's
    close cancels what runs). ``drain``: new requests get the busy answer saying the server
    restarts (upload again in a minute), the one being graded and the one waiting in line are
    both finished, and ``drain`` says True once they are (no timing: events and counters)."""
    from app.model_queue import DRAIN_S, RESTART_RETRY_S

    queue = ModelQueue(1, 2, kept="Your upload is deleted within the hour.")
    release = threading.Event()
    order: list[int] = []
    holders = _holders(queue, 2, release, order)  # one graded, one waiting
    drained: list[bool] = []
    drainer = threading.Thread(target=lambda: drained.append(queue.drain()), daemon=True)
    drainer.start()
    _wait_until(lambda: queue.stopping, "the queue to stop admitting")
    with pytest.raises(ServerBusy) as caught, queue.slot():
        pass
    message = str(caught.value)
    assert "restarting" in message and "upload the image again in about 1 minute" in message
    assert "Nothing was graded" in message and "deleted within the hour" in message
    assert caught.value.retry_after_s == RESTART_RETRY_S and queue.refused == 1
    assert drained == [] and queue.running == 1 and queue.waiting == 1  # still theirs
    release.set()
    for t in [*holders, drainer]:
        t.join(30)
    assert order == [0, 1] and drained == [True] and DRAIN_S == 30.0
    assert queue.drain(0) is True  # nothing left: at once


def test_a_drain_that_reaches_its_limit_says_so() -> None:
    """A request still graded at the drain's limit: ``drain`` returns False (the server is
    closed on it and says so), and the queue takes no one new."""
    queue = ModelQueue(1, 0)
    release = threading.Event()
    holders = _holders(queue, 1, release, [])
    assert queue.drain(0) is False and queue.stopping and queue.running == 1
    release.set()
    holders[0].join(30)
    with pytest.raises(ServerBusy, match="restarting"), queue.slot():
        pass


def test_the_app_drains_its_queue_before_it_closes(capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m app`` on SIGTERM or Ctrl-C (app.__main__._drain, before ``demo.close``): an
    idle server stops at once and says nothing; one with a request still graded at the limit
    says that it stops with it unfinished; both take no new image from then on."""
    from types import SimpleNamespace

    from app.__main__ import _drain

    idle = SimpleNamespace(model_queue=ModelQueue(1, 0), _queue=SimpleNamespace(active_jobs=[None, None]))
    assert _drain(idle) is True and idle.model_queue.stopping and capsys.readouterr().out == ""
    busy = SimpleNamespace(model_queue=ModelQueue(1, 0))
    release = threading.Event()
    holders = _holders(busy.model_queue, 1, release, [])
    try:
        assert _drain(busy, limit_s=0) is False
    finally:
        release.set()
        holders[0].join(30)
    out = capsys.readouterr().out
    assert "waiting up to 0 s for the 1 being graded" in out and "stopped with 1 request(s) unfinished" in out
    assert _drain(SimpleNamespace()) is True  # no model queue (another server): nothing to wait for


def test_the_app_drains_on_the_interrupt_before_gradio_closes_anything() -> None:
    """gradio's ``block_thread`` closes its web server itself on Ctrl-C / SIGTERM, so a drain
    after it came too late (a live check: every client cut off). The app's own wait
    (app.__main__._serve_until_stopped) drains on the interrupt and closes nothing itself."""
    from app.__main__ import _serve_until_stopped

    class Served:
        model_queue = ModelQueue(1, 0)
        closed = False

        @property
        def is_running(self) -> bool:
            raise KeyboardInterrupt  # the signal, while the server runs

        def close(self) -> None:
            self.closed = True

    demo = Served()
    _serve_until_stopped(demo)
    assert demo.model_queue.stopping and not demo.closed


class _FakeTime:
    """A clock (seconds) that only the fake ``sleep`` moves; ``on_sleep(n)`` runs at the n-th sleep."""

    def __init__(self, now: float, on_sleep: Callable[[int], None] = lambda n: None) -> None:
        self.now, self.sleeps, self.on_sleep = now, 0, on_sleep

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds
        self.on_sleep(self.sleeps)


def test_a_finished_drain_keeps_serving_the_last_pictures_for_its_grace() -> None:
    """A review (F1): the server closed 0.3 s after the last result, and the browser's request
    for that result's pictures got "Connection refused". After a drain that finished it keeps
    serving until DRAIN_GRACE_S after the last request finished (the queue's ``finished_at``),
    still refusing new images; an idle server (nothing finished) waits for nothing, and a
    second signal in the grace cuts it short (all had finished: True)."""
    from types import SimpleNamespace

    from app.__main__ import _drain
    from app.model_queue import DRAIN_GRACE_S

    fake = _FakeTime(100.0)
    queue = ModelQueue(1, 0, clock=fake.clock)  # one clock: the last result's finish and the drain's
    with queue.slot():
        pass
    assert queue.finished_at == 100.0
    fake.now = 101.0  # the signal: 1 s after the last result
    demo = SimpleNamespace(model_queue=queue, _queue=SimpleNamespace(active_jobs=[None]))
    assert _drain(demo, sleep=fake.sleep) is True
    assert DRAIN_GRACE_S == 5.0 and 100.0 + DRAIN_GRACE_S <= fake.now < 100.0 + DRAIN_GRACE_S + 0.1
    with pytest.raises(ServerBusy, match="restarting"), queue.slot():
        pass
    fake = _FakeTime(101.0)
    idle = SimpleNamespace(model_queue=ModelQueue(1, 0, clock=fake.clock),
                           _queue=SimpleNamespace(active_jobs=[None]))
    assert _drain(idle, sleep=fake.sleep) is True and fake.sleeps == 0

    def interrupt(n: int) -> None:
        raise KeyboardInterrupt

    fake = _FakeTime(100.0, interrupt)
    cut = SimpleNamespace(model_queue=ModelQueue(1, 0, clock=fake.clock),
                          _queue=SimpleNamespace(active_jobs=[None]))
    with cut.model_queue.slot():
        pass
    fake.now = 101.0
    assert _drain(cut, sleep=fake.sleep) is True and fake.sleeps == 1


def test_the_drain_waits_for_gradio_to_send_the_last_results(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A review (F2): the wait for gradio's own sending (its ``_queue.active_jobs``) was never
    checked. A job still in progress is waited for until gradio clears it; a gradio without
    that list is said once on the log, and the drain then relies on its grace."""
    from types import SimpleNamespace

    import app.__main__ as app_main

    jobs: list[object] = [object()]

    def clear(n: int) -> None:
        if n == 3:
            jobs[0] = None  # gradio has sent the result

    fake = _FakeTime(0.0, clear)
    demo = SimpleNamespace(model_queue=ModelQueue(1, 0), _queue=SimpleNamespace(active_jobs=jobs))
    assert app_main._drain(demo, clock=fake.clock, sleep=fake.sleep) is True
    assert fake.sleeps == 3 and jobs == [None]
    monkeypatch.setattr(app_main, "_UNKNOWN_QUEUE_WARNED", [])
    for renamed in (SimpleNamespace(), SimpleNamespace(_queue=SimpleNamespace(active_jobs=None))):
        assert app_main._gradio_idle(renamed) is True
    warnings = [r for r in caplog.records if r.name == "app" and r.levelname == "WARNING"]
    assert len(warnings) == 1 and "_queue.active_jobs" in warnings[0].getMessage()


class _Interrupted(ModelQueue):
    """A queue whose ``drain`` or ``stop_admitting`` gets the second signal; counts drains."""

    def __init__(self, where: str) -> None:
        super().__init__(1, 0)
        self.where, self.drains = where, 0

    def stop_admitting(self) -> None:
        super().stop_admitting()
        if self.where == "stop_admitting":
            raise KeyboardInterrupt

    def drain(self, timeout_s: float = 30.0) -> bool:
        self.drains += 1
        raise KeyboardInterrupt


@pytest.mark.parametrize("where", ["drain", "stop_admitting"])
def test_a_second_signal_stops_the_drain_and_never_starts_another(
        where: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A review (F3): a second Ctrl-C / SIGTERM while the drain waits, or while it stops
    admitting, ends it (False, said on the console) and does not escape the app's wait; the
    caller's own drain on the interrupt (app.__main__._run) then returns at once, draining
    nothing twice."""
    from types import SimpleNamespace

    from app.__main__ import _drain, _serve_until_stopped

    class Served:
        model_queue = _Interrupted(where)
        _queue = SimpleNamespace(active_jobs=[None])

        @property
        def is_running(self) -> bool:
            raise KeyboardInterrupt  # the first signal

    demo = Served()
    try:
        _serve_until_stopped(demo)  # the second signal inside the drain: not raised from here
    except KeyboardInterrupt:  # caught, so that pytest is not interrupted itself
        pytest.fail("the second signal escaped the drain: _run would drain again")
    assert "unfinished" not in capsys.readouterr().out  # nothing was admitted: none unfinished
    assert demo.model_queue.draining and demo.model_queue.stopping
    fake = _FakeTime(0.0)
    assert _drain(demo, clock=fake.clock, sleep=fake.sleep) is False  # _run's drain: none
    assert demo.model_queue.drains == (1 if where == "drain" else 0) and fake.sleeps == 0
    assert capsys.readouterr().out == ""


def test_the_wait_goes_on_where_gradio_has_no_is_running_and_stops_on_an_oserror(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A review (F2): ``getattr(demo, "is_running", False)`` made ``python -m app`` exit 0 at
    once on a gradio that renamed the attribute. The wait now goes on (one warning on the log)
    until the signal; an OSError in it (gradio's ``block_thread`` caught it too) drains, exits
    1 and says so without the busy port's advice."""
    from types import SimpleNamespace

    import app.__main__ as app_main

    monkeypatch.setattr(app_main, "_UNKNOWN_RUNNING_WARNED", [])

    def signal_at(n: int) -> None:
        if n == 3:
            raise KeyboardInterrupt

    fake = _FakeTime(0.0, signal_at)
    renamed = SimpleNamespace(model_queue=ModelQueue(1, 0), _queue=SimpleNamespace(active_jobs=[None]))
    assert app_main._serve_until_stopped(renamed, sleep=fake.sleep) == 0
    assert fake.sleeps == 3 and renamed.model_queue.stopping
    warnings = [r for r in caplog.records if r.name == "app" and r.levelname == "WARNING"]
    assert len(warnings) == 1 and "demo.is_running" in warnings[0].getMessage()

    def fail(seconds: float) -> None:
        raise OSError("Bad file descriptor")

    broken = SimpleNamespace(is_running=True, model_queue=ModelQueue(1, 0),
                             _queue=SimpleNamespace(active_jobs=[None]))
    assert app_main._serve_until_stopped(broken, sleep=fail) == 1 and broken.model_queue.stopping
    err = capsys.readouterr().err
    assert "Bad file descriptor" in err and "--port" not in err


def test_a_second_signal_while_gradio_sends_the_last_results_leaves_none_unfinished(
        capsys: pytest.CaptureFixture[str]) -> None:
    """A review (F1): a second signal while gradio sent the last result said "stopped with 0
    request(s) unfinished: their users see an error and must upload again" though every
    request was graded. It now says the results being sent, and the drain counts as finished."""
    from types import SimpleNamespace

    from app.__main__ import _drain

    def interrupt(n: int) -> None:
        raise KeyboardInterrupt

    fake = _FakeTime(0.0, interrupt)
    queue = ModelQueue(1, 0, clock=fake.clock)
    with queue.slot():
        pass  # one request, graded
    demo = SimpleNamespace(model_queue=queue, _queue=SimpleNamespace(active_jobs=[["event"]]))
    assert _drain(demo, sleep=fake.sleep) is True and fake.sleeps == 1
    out = capsys.readouterr().out
    assert "unfinished" not in out
    assert "stopped while the last 1 result(s) were being sent: those pages may not show" in out
