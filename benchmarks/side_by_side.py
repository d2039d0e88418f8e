"""Several models of one checkpoint timed side by side in one process, and the command line of the
benchmarks built on it (``onnx_int8_bench``, ``tflite_int8_bench``).

ROUND-ROBIN: each round runs one input through every model in turn, the order rotating per round,
so load on a shared machine falls on all of them alike; ratios between models of one run are then
fair even when the machine is not quiet. Quote medians.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from imuedge.command_line import command_line
from imuedge.machine import machine

# models[key] = (feed, run): feed(r) readies round r's input and is not timed; run(feed(r)) is timed.
Model = tuple[Callable[[int], object], Callable[[object], object]]


def round_robin(models: dict[str, Model], rounds: int, warmup: int) -> dict[str, np.ndarray]:
    """Each model's time per round, ms, after ``warmup`` untimed rounds of every model in turn."""
    keys = list(models)
    for r in range(warmup):
        for key in keys:
            feed, run = models[key]
            run(feed(r))
    ts = np.empty((len(keys), rounds))
    for r in range(rounds):
        for j in range(len(keys)):
            idx = (j + r) % len(keys)  # rotate which model runs first
            feed, run = models[keys[idx]]
            arg = feed(r)
            t0 = time.perf_counter()
            run(arg)
            ts[idx, r] = (time.perf_counter() - t0) * 1000.0
    return {key: ts[j] for j, key in enumerate(keys)}


def main(argv, *, doc: str, name: str, rounds: int, warmup: int, measure, markdown,
         options: Callable[[argparse.ArgumentParser], None] = lambda p: None, packages: tuple[str, ...] = ()) -> int:
    """``python -m benchmarks.NAME CHECKPOINT [...]``: ``measure(checkpoint, args, log)`` per checkpoint, then
    ``OUT/NAME.json`` (raw) and ``OUT/NAME.md`` (``markdown(result)``); ``--markdown JSON`` only rewrites the
    markdown of an earlier run."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="*", help="classifier checkpoints (imuedge train --out / imuedge run)")
    p.add_argument("--rounds", type=int, default=rounds)
    p.add_argument("--warmup", type=int, default=warmup)
    p.add_argument("--out", default=f"benchmarks/results/{name.removesuffix('_bench')}")
    p.add_argument("--markdown", metavar="JSON", help="only rewrite the markdown from an earlier run's JSON")
    options(p)
    a = p.parse_args(argv)
    if a.markdown:
        Path(a.markdown).with_suffix(".md").write_text(markdown(json.loads(Path(a.markdown).read_text())))
        return 0
    if not a.checkpoints:
        p.error("give at least one classifier checkpoint")

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    result = {"date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "command": command_line(),
              "machine": machine(packages), "rounds": a.rounds, "warmup": a.warmup,
              "checkpoints": [measure(c, a, log) for c in a.checkpoints]}
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / f"{name}.md").write_text(markdown(result))
    print(markdown(result))
    return 0
