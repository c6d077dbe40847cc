"""A runner asks Linux for a short time slice: it mostly waits for replies, and every moment a
reply waits for a core behind CPU-bound neighbours is lost by that connection."""

from __future__ import annotations

import ctypes
import os
import sys

# EEVDF (Linux 6.6+; a task's own slice since 6.12) runs a waking task with a shorter slice
# ahead of those with longer ones; its share of the CPU stays the same. Measured over a relay
# 40 ms away with both cores busy: a runner otherwise waits 2-3 ms for a core per reply, 5-8 %
# of a round trip. Older kernels ignore the request; other systems do not get it.
SLICE_NS = 100_000
_SCHED_SETATTR = {"x86_64": 314, "aarch64": 274}  # syscall numbers (no wrapper in Python)


class _SchedAttr(ctypes.Structure):
    _fields_ = [("size", ctypes.c_uint32), ("sched_policy", ctypes.c_uint32),
                ("sched_flags", ctypes.c_uint64), ("sched_nice", ctypes.c_int32),
                ("sched_priority", ctypes.c_uint32), ("sched_runtime", ctypes.c_uint64),
                ("sched_deadline", ctypes.c_uint64), ("sched_period", ctypes.c_uint64)]


def ask_short_slice() -> bool:
    """Ask for SLICE_NS for this thread and the threads it starts, keeping its policy and nice;
    True when the kernel took the request. A process the user put under SCHED_BATCH or a
    real-time policy is left as it is."""
    number = _SCHED_SETATTR.get(os.uname().machine)
    if sys.platform != "linux" or number is None or os.sched_getscheduler(0) != os.SCHED_OTHER:
        return False
    attr = _SchedAttr(size=ctypes.sizeof(_SchedAttr), sched_policy=os.SCHED_OTHER,
                      sched_nice=os.getpriority(os.PRIO_PROCESS, 0), sched_runtime=SLICE_NS)
    return int(ctypes.CDLL(None, use_errno=True).syscall(number, 0, ctypes.byref(attr), 0)) == 0
