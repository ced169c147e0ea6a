"""bench.measure: the peaks it reports are the measured command's, not the harness's."""

import resource
import sys

from bench import measure

MiB = 2**20


def test_a_small_child_of_a_large_harness_is_not_given_the_harness_peak():
    ballast = b"x" * (400 * MiB)  # the harness holds 400 MiB when it starts the child
    harness = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    m = measure.run([sys.executable, "-c", "pass"])
    assert m.returncode == 0
    assert harness >= 400 * MiB and len(ballast) == 400 * MiB
    assert m.peak_rss is None  # the kernel's figure for the child is the harness's high-water mark
    assert m.peak_tree_rss < 200 * MiB  # a bare interpreter: tens of MiB


def test_a_child_larger_than_the_harness_gets_its_exact_peak():
    harness = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    size = harness + 300 * MiB
    m = measure.run([sys.executable, "-c", f"x = b'y' * {size}"])
    assert m.returncode == 0
    assert m.peak_rss is not None and size <= m.peak_rss < size + 200 * MiB
    assert m.peak_tree_rss >= m.peak_rss


def test_kernel_peak_rule():
    assert measure.kernel_peak(5000, 4000) == 5000 * 1024
    assert measure.kernel_peak(4000, 4000) is None
