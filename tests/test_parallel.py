"""Parallel and distributed enumeration gives exactly the serial coefficients."""

import logging
import random
import threading
from concurrent.futures import Executor, Future, ProcessPoolExecutor

import pytest

from feynflow import loss_coefficients
from feynflow.reference import reference_loss_coefficients
from feynflow.wick import clear_wick_cache

# (nu, symmetric, target, order, leading): small enough to stay fast, large
# enough that every order merges and averages many diagram classes.
CASES = [
    (2, True, "identity", 6, False),
    (2, False, "identity", 5, False),
    (3, False, "identity", 3, False),
    (3, True, "zero", 2, False),
    (4, True, "identity", 2, False),
    (2, True, "identity", 8, True),
    (3, False, "identity", 3, True),
]

CASE_IDS = [
    f"{'SYM' if sym else 'ASYM'}-nu{nu}-{target}-s{order}{'-leading' if lead else ''}"
    for nu, sym, target, order, lead in CASES
]


class ShuffledExecutor(Executor):
    """Runs submitted calls in a random order and completes them in that order.

    Calls are collected until no new one has arrived for ``quiet`` seconds,
    then run one after the other, in a shuffled order, on a worker thread.
    Anything that relies on tasks finishing in the order they were submitted
    sees a different order here.
    """

    def __init__(self, seed: int, quiet: float = 0.005) -> None:
        self._random = random.Random(seed)
        self._quiet = quiet
        self._pending: list[tuple[Future, object, tuple, dict]] = []
        self._condition = threading.Condition()
        self._closed = False
        self.submitted = 0
        self._thread = threading.Thread(target=self._work, daemon=True)
        self._thread.start()

    def submit(self, fn, /, *args, **kwargs):
        future: Future = Future()
        with self._condition:
            if self._closed:
                raise RuntimeError("cannot submit after shutdown")
            self._pending.append((future, fn, args, kwargs))
            self.submitted += 1
            self._condition.notify()
        return future

    def _work(self) -> None:
        while True:
            with self._condition:
                while not self._pending and not self._closed:
                    self._condition.wait()
                if not self._pending:
                    return
                # Let a burst of submissions gather before shuffling it.
                count = -1
                while count != len(self._pending):
                    count = len(self._pending)
                    self._condition.wait(self._quiet)
                batch, self._pending = self._pending, []
            self._random.shuffle(batch)
            for future, fn, args, kwargs in batch:
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as error:  # handed to the caller
                    future.set_exception(error)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify()
        if wait:
            self._thread.join()


def _serial(nu, symmetric, target, order, leading):
    clear_wick_cache()
    return loss_coefficients(
        nu, order, symmetric=symmetric, target=target, leading=leading
    )


def _parallel(executor, nu, symmetric, target, order, leading):
    # A cleared memo keeps the serial run from handing values to this one.
    clear_wick_cache()
    return loss_coefficients(
        nu,
        order,
        symmetric=symmetric,
        target=target,
        leading=leading,
        executor=executor,
    )


@pytest.fixture(scope="module")
def serial_results():
    return {case: _serial(*case) for case in CASES}


@pytest.fixture(scope="module")
def dask_executor():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        dashboard_address=":0",
        silence_logs=logging.ERROR,
    )
    client = distributed.Client(cluster)
    try:
        yield client.get_executor()
    finally:
        client.close()
        cluster.close()


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_process_pool_equals_serial(case, workers, serial_results):
    with ProcessPoolExecutor(max_workers=workers) as executor:
        assert _parallel(executor, *case) == serial_results[case]


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_dask_local_cluster_equals_serial(case, dask_executor, serial_results):
    assert _parallel(dask_executor, *case) == serial_results[case]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_task_order_does_not_change_the_result(case, seed, serial_results):
    executor = ShuffledExecutor(seed)
    try:
        assert _parallel(executor, *case) == serial_results[case]
    finally:
        executor.shutdown()


def test_work_is_split_into_several_tasks():
    executor = ShuffledExecutor(seed=3)
    try:
        _parallel(executor, 3, False, "identity", 3, False)
    finally:
        executor.shutdown()
    assert executor.submitted > 1


def test_process_pool_equals_the_plain_reference():
    # An independent check of the parallel path, not only of its agreement
    # with the serial one.
    with ProcessPoolExecutor(max_workers=2) as executor:
        got = _parallel(executor, 3, False, "identity", 2, False)
    assert got == reference_loss_coefficients(3, 2, symmetric=False)
