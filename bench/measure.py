"""Run one command and measure it: wall time, peak memory, the machine's load while it ran.

Peak memory is taken two ways, without psutil:
- `peak_rss`: the largest resident set of the process or any descendant it reaped, exact, from
  the kernel (os.wait4 -> ru_maxrss, which the kernel keeps as the max over the process tree).
  At exec Linux records the high-water mark of the memory map it replaces: with vfork (how
  CPython 3.11 starts children) that map is this harness's own, with fork a copy of it. So when
  the child's figure is not above the harness's own peak it may be the harness's: it is then
  None, not a number (see `kernel_peak`), and `peak_tree_rss` is the sampled figure alone (a
  child that lives less than one sampling interval is then seen about once, near its start);
- `peak_tree_rss`: the sum of the resident sets of the process and all its live descendants,
  sampled from /proc every `SAMPLE_SECONDS` (what matters when several processes run at once,
  e.g. a Jupyter kernel beside Snakemake; a spike shorter than the interval can be missed).

A memory cap, if given, is enforced on the sampled tree sum: the process group is killed and the
run is marked `capped`, so a runaway baseline cannot take the shared machine down.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import signal
import subprocess
import threading
import time
from pathlib import Path

SAMPLE_SECONDS = 0.25
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclasses.dataclass
class Measurement:
    command: list[str]
    returncode: int
    wall_seconds: float
    peak_rss: int | None  # bytes; None when it cannot be told from the harness's own peak
    peak_tree_rss: int  # bytes
    user_seconds: float
    system_seconds: float
    load_before: float
    load_max: float
    capped: bool = False

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def load_average() -> float:
    """The 1-minute load average."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # the command name may hold spaces and parentheses: the ppid follows the last ')'
        fields = stat[stat.rfind(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def _rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss(root: int) -> int:
    """Sum of the resident sets of `root` and every live descendant (bytes)."""
    children = _children_map()
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _rss(pid)
        stack.extend(children.get(pid, []))
    return total


def kernel_peak(child_maxrss_kib: int, harness_maxrss_kib: int) -> int | None:
    """The child's ru_maxrss in bytes, or None when it is not above the harness's own peak, read
    after the child has run (an upper bound of the harness's mark at the child's exec, which Linux
    hands to the child: a 7.8 GiB harness made every later child, a 0.2 GiB turnover comparison
    included, report 7.8 GiB)."""
    return child_maxrss_kib * 1024 if child_maxrss_kib > harness_maxrss_kib else None


def run(
    command: list[str],
    *,
    cwd: Path | str | None = None,
    env: dict[str, str] | None = None,
    log_path: Path | None = None,
    cap_bytes: int | None = None,
    timeout_seconds: float | None = None,
) -> Measurement:
    """Run `command` to completion (stdout and stderr to `log_path`) and measure it."""
    log = open(log_path, "w", encoding="utf-8") if log_path else subprocess.DEVNULL  # noqa: SIM115
    load_before = load_average()
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    state = {"peak": 0, "load": load_before, "capped": False, "done": False}

    def sample() -> None:
        while not state["done"]:
            rss = tree_rss(process.pid)
            state["peak"] = max(state["peak"], rss)
            state["load"] = max(state["load"], load_average())
            over_cap = cap_bytes is not None and rss > cap_bytes
            over_time = timeout_seconds is not None and time.perf_counter() - started > timeout_seconds
            if over_cap or over_time:
                state["capped"] = True
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                return
            time.sleep(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    state["done"] = True
    sampler.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    if log_path:
        log.close()
    harness_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB; never lower than at the child's exec
    exact = kernel_peak(usage.ru_maxrss, harness_peak)
    return Measurement(
        command=[str(c) for c in command],
        returncode=process.returncode,
        wall_seconds=wall,
        peak_rss=exact,
        peak_tree_rss=max(state["peak"], exact or 0),
        user_seconds=usage.ru_utime,
        system_seconds=usage.ru_stime,
        load_before=load_before,
        load_max=state["load"],
        capped=state["capped"],
    )
