"""When are ``in_workers``' processes ready? The data set through spawn's pipe, or in a file.

``python tools/worker_start.py [--workers 3] [--repeats 3]`` starts a ``spawn`` pool of
``--workers`` processes the two ways and prints, per way and repeat, the seconds from the pool's
start until each worker had the data set (the embedded real text + audio, quick profile):

* ``pipe``: the data set as the initializer's argument: ``spawn`` writes it into each child's
  pipe, and the write waits until that child has imported what unpickling it needs
  (``mosi_lib``, torch), so each start waits for the one before.
* ``file``: what ``in_workers`` does: pickled once to a temporary file, each worker reads it as
  it starts (``parallel.init_worker``).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import pickle
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from mosi_lib.config import load_config
from mosi_lib.data.preprocess import prepare_data
from mosi_lib.study import execution

_HELD: dict = {}  # per worker process: the data set it got through the pipe


def _stamp(out_dir: str, t0: float) -> None:
    Path(out_dir, str(os.getpid())).write_text(f"{time.time() - t0:.3f}")


def _init_pipe(data, out_dir: str, t0: float) -> None:
    _HELD.update(data=data)
    _stamp(out_dir, t0)


def _init_file(data_file: str, out_dir: str, t0: float) -> None:
    execution.init_worker(data_file, 1)
    _stamp(out_dir, t0)


def _job(seconds: float) -> int:
    time.sleep(seconds)  # long enough that every worker gets a job
    return os.getpid()


def ready_times(how: str, data, n: int) -> list[float]:
    """Seconds from the pool's start until each of its ``n`` workers had the data, sorted."""
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = Path(tmp, "ready")
        out_dir.mkdir()
        t0 = time.time()  # with the file, its writing counts
        if how == "file":
            init, args = _init_file, (execution.write_data_file(data, tmp), str(out_dir), t0)
        else:
            init, args = _init_pipe, (data, str(out_dir), t0)
        with ProcessPoolExecutor(n, mp_context=ctx, initializer=init, initargs=args) as pool:
            list(pool.map(_job, [3.0] * n))
        return sorted(float(p.read_text()) for p in out_dir.iterdir())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    data = prepare_data(load_config("quick.yaml").data)
    mb = len(pickle.dumps(data)) / 1e6
    print(f"data set: {len(data)} segments, {mb:.1f} MB pickled; {args.workers} spawn workers; "
          f"{os.cpu_count()} CPUs")
    print("| way | repeat | seconds until each worker had the data | last - first |")
    print("|---|---|---|---|")
    for rep in range(1, args.repeats + 1):
        for how in ("pipe", "file"):
            t = ready_times(how, data, args.workers)
            print(f"| {how} | {rep} | {', '.join(f'{x:.2f}' for x in t)} | {t[-1] - t[0]:.2f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
