"""The process's turn to run ingestion's Python: one batch at a time, and the batch holding the
database's write lock first (control_plane/reporting/turn.py)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from control_plane.reporting.turn import Turn


def _wait_until(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def _start(turn, order, name, *, first=False):
    def run():
        with turn(first=first):
            order.append(name)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_caller_going_first_gets_the_turn_at_the_holders_next_pause_then_the_holder():
    turn, order = Turn(), []
    turn.acquire()  # a batch being checked
    other = _start(turn, order, "next upload")
    time.sleep(0.05)  # waiting for the turn
    turn.pause()  # nobody goes first: the holder keeps the turn
    order.append("holder")
    writer = _start(turn, order, "writer", first=True)
    _wait_until(lambda: turn._first_waiting == 1)
    turn.pause()  # the writer goes now, ahead of the upload that waited longer; then the
    order.append("holder again")  # holder, which may hold a connection that upload would need
    turn.release()
    writer.join(5)
    other.join(5)
    assert order == ["holder", "writer", "holder again", "next upload"]


def test_every_waiting_caller_gets_the_turn_one_at_a_time():
    turn, inside, most = Turn(), [0], [0]
    guard = threading.Lock()

    def step():  # a stretch of work between two pause points
        with guard:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.0001)
        with guard:
            inside[0] -= 1

    def run(first):
        for _ in range(100):
            with turn(first=first):
                step()
                turn.pause()
                step()

    threads = [threading.Thread(target=run, args=(i < 2,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)
    assert most[0] == 1


def test_a_fleets_uploads_beyond_the_bound_wait_holding_no_thread_and_no_connection(
        tmp_path, monkeypatch):
    """Only UPLOADS_AT_ONCE uploads of a process go past their body at once: the rest wait
    in the event loop, so a fleet's uploads can never take every request thread and pooled
    connection (while the one whose turn it is waits for a connection), and other requests
    still get both."""
    import asyncio

    import httpx

    from control_plane.app import create_app
    from control_plane.reporting import router as reporting_router
    from control_plane.settings import Settings

    app = create_app(Settings(data_dir=tmp_path, run_worker=False, run_broker=False,
                              run_scheduler=False, _env_file=None))  # type: ignore[call-arg]
    inside, most, lock, release = 0, 0, threading.Lock(), threading.Event()

    def upload(*_args):
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        release.wait(10)
        with lock:
            inside -= 1
        return {"accepted": 0, "duplicates": 0, "rejected": []}

    monkeypatch.setattr(reporting_router, "_upload_pop", upload)
    fleet = reporting_router.UPLOADS_AT_ONCE * 2

    async def main() -> tuple[list[int], int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            uploads = [asyncio.create_task(client.post("/v1/device/pop", content=b"{}"))
                       for _ in range(fleet)]
            while inside < reporting_router.UPLOADS_AT_ONCE:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)  # the others had time to get in, had they been let
            health = (await client.get("/healthz")).status_code  # threads and loop are free
            release.set()
            return [(await u).status_code for u in uploads], health

    # on a thread of its own: a test before it in this process (Playwright's sync API) may have
    # left the main thread's event loop running
    with ThreadPoolExecutor(1) as own:
        codes, health = own.submit(asyncio.run, main()).result(60)
    assert codes == [200] * fleet and health == 200
    assert most == reporting_router.UPLOADS_AT_ONCE
