"""Group commit: one writer per process and engine stores the rows of many requests in one
transaction.

A request does its CPU work (validation, routing, sealing, signing) on its own thread, then hands
a write job to the writer and waits for the commit that holds its rows: its answer leaves only
after its own commit, so durability is as before. The jobs queued while a batch commits form the
next batch, so a lone request waits for nobody.

A job looks for what would make its rows clash before writing any (`NotStored`), so a duplicate id
in the same batch as its original is seen there. Any other failure, or a failed commit, rolls the
batch back and runs each job again in a transaction of its own: a failing row fails only its own
request. The audit log's appends stay serialised and in the transaction of the rows they describe:
the writer is the only intake writer of this process, and the log's size row orders processes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from hub.errors import HubError
from hub.store import one_writer

__all__ = ["NotStored", "submit"]

Job = Callable[[Session], Any]
# At most this many requests in one transaction; an idle writer's thread ends after _IDLE seconds.
_MAX_BATCH = 64
_IDLE = 1.0


class NotStored(HubError):
    """The job's report, or its key, is stored already: nothing of the job was written."""


class _Writer:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._ready = threading.Condition()
        self._jobs: list[tuple[Job, Future[Any]]] = []
        self._running = False

    def submit(self, job: Job) -> Any:
        done: Future[Any] = Future()
        with self._ready:
            self._jobs.append((job, done))
            if self._running:
                self._ready.notify()
            else:
                self._running = True
                threading.Thread(target=self._run, name="group-commit", daemon=True).start()
        return done.result()

    def _run(self) -> None:
        while True:
            with self._ready:
                if not self._jobs:
                    self._ready.wait(timeout=_IDLE)
                if not self._jobs:
                    self._running = False
                    return
                batch, self._jobs = self._jobs[:_MAX_BATCH], self._jobs[_MAX_BATCH:]
            self._commit(batch)

    def _commit(self, batch: list[tuple[Job, Future[Any]]]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            with Session(self._engine, expire_on_commit=False) as session, one_writer(session):
                for job, _ in batch:
                    try:
                        outcomes.append((True, job(session)))
                    except NotStored as exc:
                        outcomes.append((False, exc))
                session.commit()
        except BaseException:  # every job is run again alone, and told its own error
            for job, done in batch:
                _settle(done, *self._alone(job))
            return
        for (_, done), (ok, value) in zip(batch, outcomes, strict=True):
            _settle(done, ok, value)

    def _alone(self, job: Job) -> tuple[bool, Any]:
        try:
            with Session(self._engine, expire_on_commit=False) as session, one_writer(session):
                try:
                    value = job(session)
                    session.commit()
                except IntegrityError as exc:
                    session.rollback()
                    raise NotStored("stored meanwhile by another request") from exc
            return True, value
        except BaseException as exc:  # handed to the waiting request
            return False, exc


def _settle(done: Future[Any], ok: bool, value: Any) -> None:
    if ok:
        done.set_result(value)
    else:
        done.set_exception(value)


_WRITERS: WeakKeyDictionary[Engine, _Writer] = WeakKeyDictionary()
_LOCK = threading.Lock()


def submit(engine: Engine, job: Job) -> Any:
    """Run `job` in the next batch of `engine`'s writer and return its result after the commit.

    Raises what the job raised (NotStored if its rows clash with stored ones), or the commit's
    error if the job alone could not be committed.
    """
    with _LOCK:
        writer = _WRITERS.get(engine)
        if writer is None:
            writer = _WRITERS[engine] = _Writer(engine)
    return writer.submit(job)
