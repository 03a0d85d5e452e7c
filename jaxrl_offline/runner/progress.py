"""Progress that moves inside a chunk, and a Ctrl-C that finishes the chunk instead of losing it.

**Ticks from inside the scan.** With ``progress`` given, ``training.make_multi_seed_chunk`` puts a
``jax.debug.callback`` into the scanned update loop, behind a ``lax.cond`` that fires every
``progress_every`` updates (a traced argument of the chunk, so changing it never recompiles). The
callback's argument is per seed, so every seed strategy calls it once per seed and tick: ``vmap``'s
batching rule unrolls the callback over the seed axis, ``lax.map`` inside ``shard_map`` runs it
in each device's loop. :class:`ChunkProgress` therefore counts seed-updates and divides by the
count of seeds that compute (``training.ticking_seeds``: every padded seed when vmapped, the active
ones with ``lax.map``, where inactive seeds skip the chunk): the bar moves one step per update of
the run, whatever the seeds and devices.
The callback is unordered: ``ordered=True`` is refused with more than one device (jax 0.10:
"ordered effects are not supported for more than 1 device"), and counting needs no order.

**Cost.** A tick is one host callback per seed; :class:`ChunkProgress` picks ``progress_every``
for the next chunk from the measured speed so that ticks come about every ``target_interval_s``
(default 1 s): the callback cost is then about ``seeds x (one callback)`` per second, whatever the
algorithm's speed. The first chunk, before any speed is known, ticks on every update (the only
chunk that pays per update; see the speed report for the measured cost).

**Ctrl-C.** :class:`GracefulInterrupt` turns the first SIGINT into a request that the caller polls
between chunks (it then checkpoints and stops); the second SIGINT gets the default action and ends
the process at once. :func:`wait_ready` waits for a device array in short sleeps so that the
handler runs promptly even while a long chunk computes.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import tqdm

from jaxrl_offline.runner import distributed

TARGET_INTERVAL_S = 1.0


def make_bar(total: int, initial: int, desc: str, disable: bool = False) -> tqdm.tqdm:
    """The run's progress bar: updates, updates/s and ETA (tqdm; redrawn at most once a second)."""
    # Rates always as updates/s (tqdm would switch to s/upd below 1 upd/s): "0.30upd/s".
    bar_format = ("{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, "
                  "{rate_noinv_fmt}{postfix}]")
    return tqdm.tqdm(total=total, initial=initial, desc=desc, unit="upd", unit_scale=True,
                     dynamic_ncols=True, disable=disable, mininterval=1.0, smoothing=0.1,
                     bar_format=bar_format)


class ChunkProgress:
    """Host side of the in-chunk ticks of one run: moves ``bar`` and chooses the tick interval.

    Args:
      bar: a tqdm bar counting the run's updates (one per update, seeds counted once).
      num_seeds: seeds that tick in a chunk (each tick arrives once per computing seed;
        ``training.ticking_seeds``); :meth:`start_chunk` can change it between chunks.
      chunk: updates per chunk.
      target_interval_s: wanted seconds between ticks once the speed is known (default
        ``TARGET_INTERVAL_S``).
    """

    def __init__(self, bar: Any, num_seeds: int, chunk: int,
                 target_interval_s: float | None = None):
        self.bar, self.num_seeds, self.chunk = bar, num_seeds, chunk
        self.target_interval_s = target_interval_s or TARGET_INTERVAL_S
        self.every = 1  # Updates between ticks; 1 until a chunk has been timed.
        self.ticks = 0  # Callbacks received (all seeds, all chunks).
        self._lock = threading.Lock()
        self._chunk_start, self._seed_updates = 0, 0

    def tick(self, every: Any, _seed_value: Any = None) -> None:
        """The host callback: one seed did ``every`` more updates (thread-safe, cheap)."""
        with self._lock:
            self.ticks += 1
            self._seed_updates += int(every)
            position = self._chunk_start + min(self._seed_updates // self.num_seeds, self.chunk)
            if position > self.bar.n:
                self.bar.update(position - self.bar.n)

    def start_chunk(self, step: int, num_seeds: int | None = None) -> np.int32:
        """Call before a chunk that starts at ``step``; returns its ``progress_every`` argument.
        ``num_seeds``: the seeds that tick in this chunk, when it changed (a seed diverged)."""
        with self._lock:
            self._chunk_start, self._seed_updates = step, 0
            if num_seeds is not None:
                self.num_seeds = max(1, num_seeds)
        return np.int32(self.every)

    def end_chunk(self, step: int, wall_s: float) -> None:
        """Call after the chunk (ending at ``step``, ``wall_s`` seconds of training): completes
        the bar to ``step`` and sets the interval of the next chunk from the measured speed."""
        with self._lock:
            if step > self.bar.n:
                self.bar.update(step - self.bar.n)
            self._chunk_start, self._seed_updates = step, 0
            if wall_s > 0:
                per_s = self.chunk / wall_s
                self.every = int(min(self.chunk, max(1, per_s * self.target_interval_s)))


def wait_ready(array: Any, poll_s: float = 0.05) -> np.ndarray:
    """``array`` as a whole host ``np.ndarray`` after waiting in short sleeps, so Python signal
    handlers (Ctrl-C) run while a long computation is still on the device; an array sharded over
    several processes is gathered (``distributed.to_host``)."""
    is_ready = getattr(array, "is_ready", None)
    while is_ready is not None and not is_ready():
        time.sleep(poll_s)
    return np.asarray(distributed.to_host(array))


class GracefulInterrupt:
    """Context manager: the first SIGINT sets ``requested`` (and says what happens next); the
    second one ends the process at once (the default SIGINT action).

    Outside the main thread (where signal handlers cannot be installed) it does nothing and
    ``requested`` stays False.

    Args:
      message: printed to stderr on the first SIGINT.
    """

    def __init__(self, message: str = "Interrupted: finishing the current step, then saving. "
                 "Press Ctrl-C again to exit at once."):
        self.message = message
        self.requested = False
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> "GracefulInterrupt":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def _handle(self, signum, frame) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # The next Ctrl-C ends the process.
        sys.stderr.write(f"\n{self.message}\n")
        sys.stderr.flush()

    def __exit__(self, *exc_info) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False


def compiling(bar: Any, what: Callable[[], Any]) -> tuple[Any, float]:
    """Runs ``what()`` (a compile) with a "compiling ..." status on ``bar``; returns
    ``(result, seconds)``."""
    bar.set_postfix_str("compiling ...", refresh=True)
    start = time.perf_counter()
    result = what()
    seconds = time.perf_counter() - start
    bar.set_postfix_str(f"compiled in {seconds:.1f} s", refresh=True)
    return result, seconds


class SweepProgress:
    """The sweep line: runs done / total (finished-before and resumed runs counted), elapsed time
    and an ETA from the measured wall time per update of the runs trained so far (per algorithm
    where measured, else their mean).

    Args:
      remaining: ``[(algorithm, updates left)]`` of every run, in order (0 for finished ones).
    """

    def __init__(self, remaining: list[tuple[str, int]]):
        self.remaining = list(remaining)
        self.start = time.perf_counter()
        self.done = self.skipped = self.resumed = 0
        self._seconds_per_update: dict[str, list[float]] = {}

    def run_done(self, index: int, wall_s: float, skipped: bool = False,
                 resumed: bool = False) -> None:
        """Run ``index`` ended after ``wall_s`` seconds (its load, compile and evaluations
        included)."""
        algorithm, updates = self.remaining[index]
        if updates and not skipped:
            self._seconds_per_update.setdefault(algorithm, []).append(wall_s / updates)
        self.remaining[index] = (algorithm, 0)
        self.done += 1
        self.skipped += skipped
        self.resumed += resumed

    def eta_s(self) -> float | None:
        """Seconds left for the runs not done, ``None`` before any run has trained."""
        if not self._seconds_per_update:
            return None
        per_algorithm = {name: float(np.mean(values))
                         for name, values in self._seconds_per_update.items()}
        mean = float(np.mean(list(per_algorithm.values())))
        return sum(updates * per_algorithm.get(name, mean) for name, updates in self.remaining)

    def line(self) -> str:
        from jaxrl_offline.reporting.formatting import duration

        eta = self.eta_s()
        left = sum(1 for _, updates in self.remaining if updates)
        eta_text = ("done" if not left else "ETA ? (no run trained yet)" if eta is None
                    else f"ETA {duration(eta)}")
        return (f"sweep: {self.done}/{len(self.remaining)} runs done ({self.skipped} already "
                f"finished, {self.resumed} resumed), elapsed "
                f"{duration(time.perf_counter() - self.start)}, {eta_text}")
