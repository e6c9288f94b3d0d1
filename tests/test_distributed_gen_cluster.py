"""shiftkit.distributed under distributed's own test harness, ``gen_cluster`` (scheduler and two workers in
this process). In a module of its own: its event loop must not meet the clients of the module-scoped
clusters in test_distributed.py."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from shiftkit import KMeans, MeanShift  # noqa: E402
from shiftkit.datasets import make_lesson_blobs  # noqa: E402
from shiftkit.distributed import fit  # noqa: E402


@pytest.mark.slow
def test_in_process_cluster_of_gen_cluster():
    """``fit`` is synchronous, so it runs in a thread with a client of its own."""
    from distributed.utils_test import gen_cluster

    X = make_lesson_blobs()[0].astype(np.float64)
    one = MeanShift(bandwidth=2.5, algorithm="standard").fit(X)
    km_one = KMeans(6, init=X[::250], algorithm="lloyd").fit(X)

    @gen_cluster(client=True, nthreads=[("127.0.0.1", 1)] * 2, timeout=120)
    async def run(c, s, a, b):
        def fits():
            with distributed.Client(s.address, set_as_default=False) as sync_client:
                ms = fit(MeanShift(bandwidth=2.5, algorithm="standard"), X, sync_client, block_rows=300)
                km = fit(KMeans(6, init=X[::250]), X, sync_client, block_rows=300)
                return ms, km

        ms, km = await asyncio.to_thread(fits)
        np.testing.assert_array_equal(one.labels_, ms.labels_)
        np.testing.assert_allclose(one.cluster_centers_, ms.cluster_centers_, rtol=1e-6, atol=1e-5)
        np.testing.assert_array_equal(km_one.labels_, km.labels_)

    run()
