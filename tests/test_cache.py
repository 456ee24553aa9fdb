"""The numba on-disk cache works: a second process compiles nothing it already compiled."""

SCRIPT = """
import numpy as np
from cwfast import _kernels, ClockworkRNN, Stream
model = ClockworkRNN(1, 1, n_hidden=8, n_modules=2, seed=0)
Stream(model).process(np.zeros((4, 1), dtype=np.float32))
stats = _kernels._forward_seq.stats
print(sum(stats.cache_hits.values()), sum(stats.cache_misses.values()))
"""


def test_second_process_hits_the_cache(tmp_path, two_fresh_processes):
    (hits1, misses1), (hits2, misses2) = two_fresh_processes(SCRIPT)
    assert (hits1, misses1) == (0, 1)
    assert (hits2, misses2) == (1, 0)
    assert any(tmp_path.rglob("*.nbi"))
