"""Monte Carlo pi, pure Python: a Python 3 port of the book's "lists" version.

Each task throws `darts` darts with random.uniform and counts those inside
the quarter circle. Processes run in multiprocessing.Pool, threads in
multiprocessing.dummy.Pool (same API, one GIL). Every task seeds its own
generator from (seed, task index): fork copies the parent's state, so an
unseeded worker would repeat its siblings' darts.

Prints "version X.Y.Z", then one "run <seconds> <estimate>" per repeat; the
pool is built before the clock starts. Used by `mpkit pi` (pi/experiments).
"""
import argparse
import random
import sys
import time


def estimate_nbr_points_in_quarter_circle(task):
    darts, seed, index = task
    rng = random.Random(seed * 1_000_003 + index)
    uniform = rng.uniform
    nbr_trials_in_quarter_unit_circle = 0
    for _ in range(darts):
        x = uniform(0, 1)
        y = uniform(0, 1)
        is_in_unit_circle = x * x + y * y <= 1.0
        nbr_trials_in_quarter_unit_circle += is_in_unit_circle
    return nbr_trials_in_quarter_unit_circle


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["processes", "threads"], required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--darts", type=int, required=True)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    if args.mode == "processes":
        from multiprocessing import Pool
    else:
        from multiprocessing.dummy import Pool
    print("version", sys.version.split()[0], flush=True)
    base, extra = divmod(args.darts, args.workers)
    with Pool(processes=args.workers) as pool:
        for _ in range(args.repeats):
            tasks = [(base + (1 if i < extra else 0), args.seed, i) for i in range(args.workers)]
            start = time.perf_counter()
            inside = sum(pool.map(estimate_nbr_points_in_quarter_circle, tasks))
            seconds = time.perf_counter() - start
            print("run", seconds, 4.0 * inside / args.darts, flush=True)


if __name__ == "__main__":
    main()
