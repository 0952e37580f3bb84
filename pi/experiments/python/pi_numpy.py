"""Monte Carlo pi with numpy: a Python 3 port of the book's numpy version.

Each task draws its darts as numpy arrays (in blocks of a million, to bound
memory) and counts those inside the quarter circle. The book's version had
to reseed numpy in every worker (fork copies the generator's state); here
each task makes its own Generator from (seed, task index). Processes run in
multiprocessing.Pool, threads in multiprocessing.dummy.Pool.

Prints "version X.Y.Z", then one "run <seconds> <estimate>" per repeat.
Exits 3 with "missing numpy" on stdout if numpy is absent (Debian:
python3-numpy). Used by `mpkit pi` (pi/experiments).
"""
import argparse
import sys
import time

try:
    import numpy as np
except ImportError:
    print("missing numpy", flush=True)
    sys.exit(3)

BLOCK = 1_000_000


def estimate_nbr_points_in_quarter_circle(task):
    darts, seed, index = task
    rng = np.random.default_rng([seed, index])
    inside = 0
    left = darts
    while left > 0:
        n = min(left, BLOCK)
        xs = rng.uniform(0, 1, n)
        ys = rng.uniform(0, 1, n)
        inside += int(np.count_nonzero(xs * xs + ys * ys <= 1.0))
        left -= n
    return inside


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
    print("version", sys.version.split()[0], "numpy", np.__version__, flush=True)
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
