"""Install the phone app's front-end dependencies and the browser its tests drive.

    python -m imuedge.android_demo.install      # npm ci (from package-lock.json); apt chromium if missing

npm ci installs exactly the locked onnxruntime-web and @litertjs/core into android_demo/node_modules/ (the
page loads their WASM files from there). The tests drive Debian's chromium with Playwright (Playwright's own
browser downloads are not used).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

APP_DIR = Path(__file__).resolve().parent
NODE_MODULES = APP_DIR / "node_modules"
STAMP = NODE_MODULES / ".imuedge-lock-sha256"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


class InstallError(RuntimeError):
    """A tool the app needs (npm, chromium) is missing and could not be installed."""


def lock_digest() -> str:
    return hashlib.sha256((APP_DIR / "package-lock.json").read_bytes()).hexdigest()


def installed() -> bool:
    return STAMP.is_file() and STAMP.read_text().strip() == lock_digest()


def npm_ci(log=print) -> None:
    """``npm ci`` unless node_modules already holds this lock file's packages."""
    if installed():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise InstallError("npm is not installed (Debian: apt-get install npm); it installs the app's "
                           "onnxruntime-web and @litertjs/core")
    log(f"[android_demo] npm ci in {APP_DIR} (onnxruntime-web, @litertjs/core)")
    r = subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], cwd=APP_DIR)
    if r.returncode != 0:
        raise InstallError(f"npm ci failed in {APP_DIR} (exit {r.returncode})")
    STAMP.write_text(lock_digest() + "\n")


def chromium() -> str | None:
    env = os.environ.get("IMUEDGE_CHROMIUM")
    for c in ((env,) if env else ()) + CHROMIUM_CANDIDATES:
        if c and Path(c).is_file():
            return c
    return None


def apt_chromium(log=print) -> str:
    """The chromium binary, installed with apt-get when missing (root or sudo)."""
    found = chromium()
    if found:
        return found
    log("[android_demo] apt-get install chromium (the tests' headless browser)")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(sudo + ["apt-get", "update", "-qq"], check=False, env=env)
    r = subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"], env=env)
    found = chromium()
    if r.returncode != 0 or not found:
        raise InstallError("chromium is not installed and apt-get could not install it")
    return found


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m imuedge.android_demo.install", description=__doc__.split("\n")[0])
    ap.add_argument("--no-browser", action="store_true", help="only npm ci (serving the app needs no browser)")
    args = ap.parse_args(argv)
    try:
        npm_ci()
        if not args.no_browser:
            print(f"[android_demo] browser: {apt_chromium()}")
    except InstallError as e:
        print(f"android_demo install: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
