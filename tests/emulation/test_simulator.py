"""The device simulator (``emulation/simulator.py``) as a process: it never outlives whoever started it.
What the runtime makes of its stream is tested in tests/edge_runtime/test_link.py."""
from __future__ import annotations

import os


def test_simulator_stops_when_its_parent_dies(tmp_path, recording_csv):
    """A killed benchmark or test must not leave an endless (--loops 0) device simulator behind."""
    import signal
    import subprocess
    import sys
    import time

    csv = recording_csv(500)
    parent = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\nfrom imuedge.emulation.simulator import start_simulator\n"
         f"p = start_simulator({str(csv)!r}, {str(tmp_path / 'tty')!r}, '--loops', '0', '--speed', '10')\n"
         "print(p.pid, flush=True)\ntime.sleep(120)\n"],
        stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            if open(f"/proc/{child}/stat").read().rsplit(")", 1)[1].split()[0] == "Z":
                return  # exited, waiting for init to reap it
        except FileNotFoundError:
            return
        try:  # reap it if it became our child (a subreaper); otherwise it is init's to reap
            if os.waitpid(child, os.WNOHANG)[0] == child:
                return
        except ChildProcessError:
            pass
        time.sleep(0.1)
    os.kill(child, signal.SIGKILL)
    raise AssertionError("the simulator outlived its parent")
