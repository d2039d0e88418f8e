"""How long `imuedge` takes to start: ``imuedge --help`` and the device commands, in this environment and
in a fresh device install (``imuedge[device]``, no PyTorch), against the 0.5 s target for ``--help``.

    python -m benchmarks.cli_start_bench      # writes benchmarks/results/cli_start/cli_start_bench.{json,md}

Each command is a new process (what a user waits for), run ``--repeats`` times; the commands take turns
round by round, so load on a shared machine falls on all of them alike. Medians are quoted, with min and
max. ``imuedge run --help`` is the contrast row: the training commands read their defaults from config
modules that import torch, which is what every ``imuedge --help`` paid while all components registered
their commands up front. The device venv is made by ``benchmarks/device_install.py`` (its size on disk
and its packages are reported); ``--no-device`` skips it.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from imuedge.command_line import command_line
from imuedge.machine import describe

HERE = Path(__file__).resolve().parent
TARGET_S = 0.5
COMMANDS = {
    "imuedge --help": ["--help"],
    "imuedge stream --help": ["stream", "--help"],
    "imuedge record --help": ["record", "--help"],
    "imuedge devices --help": ["devices", "--help"],
    "imuedge run --help (imports torch)": ["run", "--help"],
}
DEVICE_COMMANDS = ("imuedge --help", "imuedge stream --help", "imuedge record --help", "imuedge devices --help")


def entry(python: Path) -> list[str]:
    """The venv's own `imuedge` script (its console entry point)."""
    return [str(Path(python).parent / "imuedge")]


def time_once(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr[-500:]}")
    return seconds


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [f"# imuedge start-up time (new process each run, {result['repeats']} runs, medians)", "",
             f"Machine: {describe(m)} (shared with other work). Target: `imuedge --help` < {TARGET_S} s in both installs.", "",
             "| install | command | median s | min s | max s |", "|---|---|---:|---:|---:|"]
    for row in result["rows"]:
        lines.append(f"| {row['install']} | `{row['command']}` | {row['median_s']:.3f} | {row['min_s']:.3f} | "
                     f"{row['max_s']:.3f} |")
    lines += ["", f"`imuedge --help` < {TARGET_S} s: **{'PASS' if result['pass'] else 'FAIL'}**"]
    dev = result.get("device_install")
    if dev:
        lines += ["", f"Device install (`pip install 'imuedge[device]'` with constraints.txt, fresh venv): "
                      f"{dev['site_packages_mb']:.0f} MB in site-packages, torch installed: "
                      f"{dev['torch_installed']}; {len(dev['packages'])} packages: "
                      + ", ".join(f"{k} {v}" for k, v in sorted(dev["packages"].items()))]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    from benchmarks.device_install import installed, make_device_venv
    from imuedge.machine import RUNTIMES, machine

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=15, help="runs per command (median quoted)")
    ap.add_argument("--no-device", action="store_true", help="only this environment (no device venv)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "cli_start", help="where the JSON and table go")
    args = ap.parse_args(argv)
    result = {"machine": machine(RUNTIMES), "repeats": args.repeats, "target_s": TARGET_S, "command": command_line()}
    with tempfile.TemporaryDirectory() as tmp:
        cells = {("full (./test.sh's .venv)", name): entry(Path(sys.executable)) + argv_
                 for name, argv_ in COMMANDS.items()}
        if not args.no_device:
            print("making the device venv ...", flush=True)
            python = make_device_venv(tmp)
            packages = installed(python)
            site = next((Path(tmp) / "venv" / "lib").glob("python*/site-packages"))
            result["device_install"] = {"packages": packages, "torch_installed": "torch" in packages,
                                        "site_packages_mb": round(folder_mb(site), 1)}
            cells.update({("device (imuedge[device])", name): entry(python) + COMMANDS[name]
                          for name in DEVICE_COMMANDS})
        times = {cell: [] for cell in cells}
        for _ in range(args.repeats):
            for cell, cmd in cells.items():
                times[cell].append(time_once(cmd))
    result["rows"] = [{"install": install, "command": name, "median_s": statistics.median(t), "min_s": min(t),
                       "max_s": max(t), "runs_s": t} for (install, name), t in times.items()]
    helps = [r["median_s"] for r in result["rows"] if r["command"] == "imuedge --help"]
    result["pass"] = all(s < TARGET_S for s in helps)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cli_start_bench.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "cli_start_bench.md").write_text(markdown(result))
    print(markdown(result))
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
