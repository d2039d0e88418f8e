"""The BLE source against a real BlueZ stack, in a QEMU guest (this host has no Bluetooth).

    python -m imuedge.emulation.ble_qemu --bundle BUNDLE [--out DIR] [--seconds 60]

What runs, for real: a Debian kernel (``linux-image-*-amd64``, fetched with
``apt-get download`` into ``.cache/ble_qemu/``) boots under ``qemu-system-x86_64``
(TCG: no KVM needed) with a busybox initramfs built here. It loads ``bluetooth``,
``hci_vhci`` and the crypto socket modules BlueZ's LE code uses, mounts this machine's
root read-only over virtio-9p and chroots into it, so the guest runs the same BlueZ
(``bluetoothd``, ``btvirt``, ``btmgmt``), D-Bus and Python venv. Inside:

* ``dbus-daemon --system``, ``btvirt -L -l2`` (two virtual LE controllers on one
  emulated radio; retried until ``btmgmt info`` lists both), ``bluetoothd``;
* on hci0, ``ble_peripheral``: a GATT server (imuedge IMU service + Nordic UART
  Service) that streams int16 counts of a HAPT recording as protocol packets;
* on hci1, the edge runtime: ``StreamRunner`` with ``parse_source("ble:NAME?adapter=hci1")``
  (bleak 3 -> BlueZ over D-Bus) and the bundle, writing what it decoded and predicted.

Results come back through a writable 9p share (``OUT``); the host compares them with
what was sent and with offline predictions (``check_run``). Timings measured in the
guest are emulated and not reported.

Needs: qemu-system-x86, bluez, bluez-test-tools (btvirt), busybox-static, dbus, apt-get
(for the kernel .deb); ``tools()`` / ``ensure_kernel()`` raise ``Unavailable`` naming
what is missing.
"""
from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import numpy as np

from imuedge.emulation import RigError

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("IMUEDGE_BLE_QEMU_CACHE", ROOT / ".cache" / "ble_qemu"))
# modules the guest loads, in this order, with their dependencies (from each .ko's .modinfo).
# The default RNG (drbg; hmac(sha512), ctr(aes)) comes before ECDH: without it ECDH
# key generation fails (its self-test, and the controllers' LE Secure Connections keys).
MODULES = ("virtio_pci", "9pnet_virtio", "9p", "sha512_generic", "ctr", "drbg", "ecdh_generic",
           "bluetooth", "hci_vhci", "af_alg", "algif_hash", "algif_skcipher", "cmac", "ecb")
MODULE_DIRS = ("kernel/net/bluetooth/", "kernel/drivers/bluetooth/hci_vhci", "kernel/crypto/", "kernel/lib/",
               "kernel/fs/9p/", "kernel/fs/netfs/", "kernel/fs/fscache/", "kernel/net/9p/",
               "kernel/drivers/virtio/", "kernel/net/rfkill/", "kernel/arch/x86/crypto/")
GUEST_OUT = "/tmp/out"  # where the results share is mounted in the guest
NAME = "IMU-VM"  # advertised name (short: the 128-bit service UUID takes 18 of 31 bytes)
CHANNELS = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")


class Unavailable(RigError):
    """What this needs is not installed / cannot be fetched (the test skips with this text)."""


def _log(msg: str) -> None:
    print(f"[ble-qemu] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- host tools
def _is_static(path: str) -> bool:
    """An ELF without a PT_INTERP program header (no dynamic loader needed)."""
    with open(path, "rb") as f:
        b = f.read(1 << 16)
    if b[:4] != b"\x7fELF" or b[4] != 2:
        return False
    phoff, phentsize, phnum = (int.from_bytes(b[0x20:0x28], "little"), int.from_bytes(b[0x36:0x38], "little"),
                               int.from_bytes(b[0x38:0x3A], "little"))
    return not any(int.from_bytes(b[phoff + i * phentsize:phoff + i * phentsize + 4], "little") == 3
                   for i in range(phnum))


def tools() -> dict:
    """Paths of the host programs the guest uses; Unavailable names the missing Debian packages."""
    want = {"qemu": ("qemu-system-x86_64", "qemu-system-x86"), "btvirt": ("btvirt", "bluez-test-tools"),
            "btmgmt": ("btmgmt", "bluez"), "dbus_daemon": ("dbus-daemon", "dbus"),
            "busybox": ("busybox", "busybox-static")}
    found, missing = {}, []
    for key, (prog, pkg) in want.items():
        path = shutil.which(prog, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/bin:/bin")
        if path is None:
            missing.append(pkg)
        found[key] = path
    bluetoothd = next((p for p in ("/usr/libexec/bluetooth/bluetoothd", "/usr/lib/bluetooth/bluetoothd",
                                   "/usr/sbin/bluetoothd") if os.access(p, os.X_OK)), None)
    if bluetoothd is None:
        missing.append("bluez")
    found["bluetoothd"] = bluetoothd
    if found["busybox"] and not _is_static(found["busybox"]):
        static = "/bin/busybox-static" if os.path.exists("/bin/busybox-static") else None
        if static is None:
            missing.append("busybox-static")
        found["busybox"] = static
    if missing:
        raise Unavailable(f"missing Debian package(s): {' '.join(sorted(set(missing)))} "
                          "(scripts/bootstrap.sh installs them with APT=1)")
    return found


# --------------------------------------------------------------------------- kernel
def kernel_package() -> str:
    """The Debian kernel package linux-image-amd64 currently points at (IMUEDGE_KERNEL_PACKAGE overrides)."""
    if os.environ.get("IMUEDGE_KERNEL_PACKAGE"):
        return os.environ["IMUEDGE_KERNEL_PACKAGE"]
    if shutil.which("apt-cache") is None:
        raise Unavailable("apt-cache not found: cannot look up a Debian kernel package")
    out = subprocess.run(["apt-cache", "depends", "linux-image-amd64"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Depends: linux-image-"):
            return line.split()[1]
    raise Unavailable("apt-cache knows no linux-image-amd64 (run apt-get update)")


def _read_deb_data(f, deb: Path):
    """The data.tar.* member of a .deb (an ar archive; ``f`` open on it) as a stream tarfile."""
    if f.read(8) != b"!<arch>\n":
        raise Unavailable(f"{deb} is not a .deb")
    while True:
        hdr = f.read(60)
        if len(hdr) < 60:
            raise Unavailable(f"{deb}: no data.tar member")
        name, size = hdr[:16].decode().strip().rstrip("/"), int(hdr[48:58].decode().strip())
        if name.startswith("data.tar"):
            comp = name.rsplit(".", 1)[-1]
            mode = {"xz": "r|xz", "gz": "r|gz", "bz2": "r|bz2", "tar": "r|"}.get(comp)
            if mode is None:
                raise Unavailable(f"{deb}: {name} compression not supported here")
            return tarfile.open(fileobj=_Limited(f, size), mode=mode)
        f.seek(size + (size & 1), 1)


class _Limited(io.RawIOBase):
    def __init__(self, f, n):
        self.f, self.left = f, n

    def readable(self):
        return True

    def readinto(self, b):
        n = min(len(b), self.left)
        if n <= 0:
            return 0
        data = self.f.read(n)
        b[:len(data)] = data
        self.left -= len(data)
        return len(data)


def ensure_kernel(cache: Path = CACHE, log=_log) -> tuple[Path, Path]:
    """(vmlinuz, modules dir) of a Debian amd64 kernel, downloaded once into ``cache``
    (the one already there is used; ``IMUEDGE_KERNEL_PACKAGE`` names another)."""
    import fcntl

    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:  # two test runs at once fetch it once
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _ensure_kernel(cache, log)


def _ensure_kernel(cache: Path, log) -> tuple[Path, Path]:
    have = sorted(cache.glob("linux-image-*/ready"), key=lambda p: p.stat().st_mtime)
    if have and not os.environ.get("IMUEDGE_KERNEL_PACKAGE"):
        pkg = have[-1].parent.name
    else:
        pkg = kernel_package()
    dest = cache / pkg
    if not (dest / "ready").exists():
        dl = cache / "download"
        dl.mkdir(parents=True, exist_ok=True)
        debs = sorted(dl.glob(f"{pkg}_*.deb"))
        if not debs:
            log(f"apt-get download {pkg} (about 70 MB, once)")
            for attempt in range(2):
                r = subprocess.run(["apt-get", "download", pkg], cwd=dl, capture_output=True, text=True)
                debs = sorted(dl.glob(f"{pkg}_*.deb"))
                if debs or attempt or os.geteuid() != 0:
                    break
                subprocess.run(["apt-get", "update", "-qq"], capture_output=True)  # stale package lists
            if not debs:
                raise Unavailable(f"apt-get download {pkg} failed: {r.stderr.strip()[-500:]}")
        log(f"unpacking {debs[-1].name}")
        shutil.rmtree(dest, ignore_errors=True)
        (dest / "modules").mkdir(parents=True)
        vmlinuz = None
        with open(debs[-1], "rb") as f, _read_deb_data(f, debs[-1]) as tar:
            for m in tar:
                name = m.name.lstrip("./")
                if name.startswith("usr/"):
                    name = name[4:]
                if m.isfile() and name.startswith("boot/vmlinuz-"):
                    (dest / "vmlinuz").write_bytes(tar.extractfile(m).read())
                    vmlinuz = True
                elif m.isfile() and name.startswith("lib/modules/"):
                    rel = name.split("/", 3)[3]  # kernel/... or modules.builtin
                    if rel == "modules.builtin" or (rel.endswith(".ko") and rel.startswith(MODULE_DIRS)):
                        out = dest / "modules" / rel
                        out.parent.mkdir(parents=True, exist_ok=True)
                        out.write_bytes(tar.extractfile(m).read())
        if not vmlinuz:
            raise Unavailable(f"{debs[-1].name} has no /boot/vmlinuz-*")
        (dest / "ready").write_text(pkg + "\n")
        for d in debs:
            d.unlink()
        for old in cache.glob("linux-image-*"):  # one kernel in the cache
            if old != dest and old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
    return dest / "vmlinuz", dest / "modules"


def _modinfo(path: Path) -> dict:
    """The .modinfo section of a kernel module (ELF64 little-endian) as {key: value}."""
    b = path.read_bytes()
    u = lambda o, n: int.from_bytes(b[o:o + n], "little")  # noqa: E731
    shoff, shentsize, shnum, shstrndx = u(0x28, 8), u(0x3A, 2), u(0x3C, 2), u(0x3E, 2)
    strtab = u(shoff + shstrndx * shentsize + 0x18, 8)
    for i in range(shnum):
        o = shoff + i * shentsize
        nm = b[strtab + u(o, 4):b.index(b"\0", strtab + u(o, 4))]
        if nm == b".modinfo":
            data = b[u(o + 0x18, 8):u(o + 0x18, 8) + u(o + 0x20, 8)]
            return dict(kv.decode(errors="replace").split("=", 1) for kv in data.split(b"\0") if b"=" in kv)
    return {}


def module_order(moddir: Path, wanted=MODULES) -> list[Path]:
    """The .ko files for ``wanted`` and their dependencies, dependencies first; builtins skipped."""
    builtin = set()
    if (moddir / "modules.builtin").exists():
        builtin = {Path(line.strip()).stem.replace("-", "_")
                   for line in (moddir / "modules.builtin").read_text().splitlines() if line.strip()}
    files = {p.stem.replace("-", "_"): p for p in moddir.rglob("*.ko")}
    order: list[Path] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        name = name.replace("-", "_")
        if name in seen or name in builtin:
            return
        seen.add(name)
        if name not in files:
            raise Unavailable(f"kernel module {name} is neither built in nor in {moddir}")
        for dep in filter(None, _modinfo(files[name]).get("depends", "").split(",")):
            visit(dep)
        order.append(files[name])

    for w in wanted:
        visit(w)
    return order


# --------------------------------------------------------------------------- initramfs
def _cpio_newc(entries) -> bytes:
    """entries: (name, mode, data bytes, rdev (major, minor)) -> an uncompressed newc archive."""
    out = bytearray()

    def add(ino: int, name: str, mode: int, data: bytes = b"", rdev=(0, 0)):
        nb = name.encode() + b"\0"
        fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(nb), 0)
        out.extend(b"070701" + b"".join(b"%08X" % v for v in fields) + nb)
        out.extend(b"\0" * (-len(out) % 4))
        out.extend(data)
        out.extend(b"\0" * (-len(out) % 4))

    for ino, e in enumerate(entries, 1):
        add(ino, *e)
    add(0, "TRAILER!!!", 0)
    return bytes(out)


INIT = r"""#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /host /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
say() { echo "IMUEDGE-GUEST $*" > /dev/console; }
die() { say "FAIL $*"; sync; poweroff -f; sleep 5; echo o > /proc/sysrq-trigger; }
for m in $(cat /modules.list); do insmod /lib/modules/$m.ko || say "insmod $m failed"; done
OPTS=trans=virtio,version=9p2000.L,msize=262144
mount -t 9p -o $OPTS,ro,cache=loose hostroot /host || die "cannot mount the host root over 9p"
mount -t proc proc /host/proc && mount -t sysfs sys /host/sys && mount -t devtmpfs dev /host/dev || die "mounts"
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts devpts /host/dev/pts; mount -t tmpfs shm /host/dev/shm
mkdir -p /hosttmp && mount -o bind /host/tmp /hosttmp  # the host's /tmp, before a scratch tmpfs covers it
mount -t tmpfs tmp /host/tmp && mount -t tmpfs run /host/run || die "tmpfs"
for p in @KEEP@; do  # a checkout or venv under the host's /tmp stays visible (read-only) in the guest
  mkdir -p "/host$p" && mount -o bind "/hosttmp${p#/tmp}" "/host$p" || die "cannot keep $p"
done
[ -d /host/var/lib/bluetooth ] && mount -t tmpfs bt /host/var/lib/bluetooth
mkdir -p /host/tmp/out
mount -t 9p -o $OPTS out /host/tmp/out || die "cannot mount the results share"
say "UP"
chroot /host /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 @PYTHON@ -m imuedge.emulation.ble_qemu guest /tmp/out \
  > /host/tmp/out/guest.log 2>&1
say "EXIT $?"
sync
poweroff -f
"""


def build_initramfs(path: Path, busybox: str, modules: list[Path], python: str) -> Path:
    """``python``: the interpreter the guest runs (this venv's). The guest's /tmp is a scratch tmpfs;
    the checkout and the venv, when they live under the host's /tmp, are bound back into it."""
    keep = sorted({str(d) for d in (ROOT, Path(sys.prefix), Path(python).parent.parent) if str(d).startswith("/tmp/")})
    entries = [(d, 0o40755, b"") for d in ("bin", "dev", "proc", "sys", "host", "lib", "lib/modules")]
    entries.append(("dev/console", 0o20600, b"", (5, 1)))
    entries.append(("bin/busybox", 0o100755, Path(busybox).read_bytes()))
    init = INIT.replace("@PYTHON@", python).replace("@KEEP@", " ".join(keep))
    entries.append(("init", 0o100755, init.encode()))
    names = []
    for ko in modules:
        names.append(ko.stem)
        entries.append((f"lib/modules/{ko.stem}.ko", 0o100644, ko.read_bytes()))
    entries.append(("modules.list", 0o100644, ("\n".join(names) + "\n").encode()))
    path.write_bytes(gzip.compress(_cpio_newc(entries), compresslevel=1))
    return path


# --------------------------------------------------------------------------- host: run the guest
def run_guest(out: Path, scenario: dict, *, timeout: float = 600.0, memory_mb: int = 2048, smp: int = 2,
              log=_log) -> dict:
    """Boot the guest with ``out`` as its results share; returns {"rc", "console", "seconds", "timed_out"}."""
    t = tools()
    vmlinuz, moddir = ensure_kernel(log=log)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "scenario.json").write_text(json.dumps(scenario, indent=1))
    python = os.path.abspath(sys.executable)  # the venv's python (not resolved: pyvenv.cfg must be found)
    initrd = build_initramfs(out / "initramfs.cpio.gz", t["busybox"], module_order(moddir), python)
    console = out / "console.log"
    cmd = [t["qemu"], "-accel", "tcg", "-cpu", "max", "-smp", str(smp), "-m", str(memory_mb),
           "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-serial", f"file:{console}",
           "-kernel", str(vmlinuz), "-initrd", str(initrd),
           "-append", "console=ttyS0 panic=-1 loglevel=4 random.trust_cpu=on tsc=reliable",
           "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
           "-virtfs", f"local,path={out},mount_tag=out,security_model=none"]
    log(f"booting the guest (qemu TCG, {smp} vCPU); console: {console}")
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        qemu_out, _ = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        proc.kill()
        qemu_out, _ = proc.communicate()
        timed_out = True
    text = console.read_text(errors="replace") if console.exists() else ""
    return {"rc": proc.returncode, "timed_out": timed_out, "seconds": time.monotonic() - t0, "console": text,
            "qemu_output": qemu_out.decode(errors="replace")}


# --------------------------------------------------------------------------- guest side
class _Guest:
    """Runs inside the VM (chrooted into the host's root): BlueZ up, then each scenario run."""

    def __init__(self, out: Path):
        self.out = out
        self.scenario = json.loads((out / "scenario.json").read_text())
        self.procs: list[subprocess.Popen] = []
        self.t0 = time.monotonic()

    def log(self, msg: str) -> None:
        print(f"[guest {time.monotonic() - self.t0:7.1f}s] {msg}", flush=True)

    def spawn(self, name: str, cmd: list[str], **kw) -> subprocess.Popen:
        logf = open(self.out / f"{name}.log", "ab")
        p = subprocess.Popen(cmd, stdout=kw.pop("stdout", logf), stderr=logf, stdin=subprocess.DEVNULL, **kw)
        self.procs.append(p)
        return p

    def sh(self, cmd: list[str], timeout: float = 30) -> str:
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
            return r.stdout + r.stderr
        except subprocess.TimeoutExpired as e:
            return f"timeout: {e}"

    def wait_file(self, path: str, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if os.path.exists(path):
                return True
            time.sleep(0.1)
        return False

    def bring_up_bluez(self) -> None:
        os.makedirs("/run/dbus", exist_ok=True)
        self.spawn("dbus", ["dbus-daemon", "--system", "--nofork", "--nopidfile", "--nosyslog"])
        if not self.wait_file("/run/dbus/system_bus_socket", 60):
            raise RigError("dbus-daemon did not create its socket")
        self.log("dbus up")
        conf = Path("/tmp/bluetooth-main.conf")
        # Cache=no: every connection discovers services afresh (what a first-time host does).
        # Channels=1: no EATT. With EATT (BlueZ 5.66, both ends bluetoothd) a connection often
        # drops during discovery ("Received unexpected ATT response" on an EATT channel).
        conf.write_text("[General]\nControllerMode = le\n[GATT]\nCache = no\nChannels = 1\n"
                        "[Policy]\nAutoEnable = true\n")
        bluetoothd = next(p for p in ("/usr/libexec/bluetooth/bluetoothd", "/usr/lib/bluetooth/bluetoothd",
                                      "/usr/sbin/bluetoothd") if os.access(p, os.X_OK))
        for attempt in range(1, 5):  # the first controller reset can time out under emulation
            btvirt = self.spawn("btvirt", ["btvirt", "-L", "-l2"])
            end = time.monotonic() + 40
            info = ""
            while time.monotonic() < end:
                info = self.sh(["btmgmt", "info"], timeout=20)
                if "hci0:" in info and "hci1:" in info:
                    break
                time.sleep(1)
            if "hci0:" in info and "hci1:" in info:
                break
            self.log(f"btvirt attempt {attempt}: controllers not both up: {info.strip()[-300:]}")
            btvirt.kill()
            btvirt.wait()
        else:
            raise RigError("btvirt did not bring up two controllers")
        self.log("two virtual LE controllers: " + " ".join(w for w in info.split() if w.startswith("hci")))
        self.spawn("bluetoothd", [bluetoothd, "-n", "-d", "-f", str(conf)])
        end = time.monotonic() + 60
        while time.monotonic() < end:
            tree = self.sh(["busctl", "--system", "tree", "org.bluez"], timeout=10) if shutil.which("busctl") \
                else self._bluez_objects()
            if "/org/bluez/hci0" in tree and "/org/bluez/hci1" in tree:
                break
            time.sleep(0.5)
        else:
            raise RigError("bluetoothd did not publish hci0 and hci1")
        for idx in ("0", "1"):
            self.sh(["btmgmt", "--index", idx, "power", "on"], timeout=20)
        self.log("bluetoothd up, hci0 and hci1 on D-Bus")

    def _bluez_objects(self) -> str:
        import asyncio

        from dbus_fast import BusType, Message
        from dbus_fast.aio import MessageBus

        async def get():
            bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
            try:
                r = await bus.call(Message(destination="org.bluez", path="/", member="GetManagedObjects",
                                           interface="org.freedesktop.DBus.ObjectManager"))
                return " ".join(r.body[0].keys()) if r.body else ""
            finally:
                bus.disconnect()

        try:
            return asyncio.run(asyncio.wait_for(get(), 10))
        except Exception as e:  # noqa: BLE001 - not up yet
            return str(e)

    def run_one(self, run: dict) -> dict:
        from imuedge.bundle import load_bundle
        from imuedge.firmware_bridge.profiles import decoder_for

        from imuedge.edge_runtime.runner import RunConfig, StreamRunner
        from imuedge.edge_runtime.sinks import ListSink
        from imuedge.edge_runtime.sources import parse_source

        name = run["name"]
        d = self.out / name
        d.mkdir(exist_ok=True)
        per_log = d / "peripheral.json"
        args = [sys.executable, "-m", "imuedge.emulation.ble_peripheral", "--counts", str(self.out / run["counts"]),
                "--adapter", "hci0", "--name", NAME, "--service", run["service"], "--rate", str(run["rate"]),
                "--pace", str(run["pace"]), "--log", str(per_log)]
        if run.get("outage_at") is not None:
            args += ["--outage-at", str(run["outage_at"]), "--outage-for", str(run.get("outage_for", 3.0))]
        peri = self.spawn(f"{name}-peripheral", args, stdout=subprocess.PIPE)
        ready, done = threading.Event(), threading.Event()

        def watch():  # "ready" once advertising, "done" after its last packet
            for raw in peri.stdout:
                line = raw.decode().strip()
                if line == "ready":
                    ready.set()
                    self.log(f"{name}: peripheral advertising on hci0 as {NAME!r}")
                elif line == "done":
                    done.set()
        threading.Thread(target=watch, daemon=True).start()
        # the host starts while the device is still booting (its Python takes a while under
        # emulation): the first scan may come back empty, and the runner retries

        uri = f"ble:{NAME}?adapter=hci1&service={run['service']}&scan=15&tries=5"
        src = parse_source(uri)
        blocks = []  # every block the decoder produced: what came over the air

        def decoder():
            dec = decoder_for(src.default_decoder)
            feed = dec.feed

            def tap(chunk):
                out = feed(chunk)
                blocks.extend(b.data.copy() for b in out)
                return out
            dec.feed = tap
            return dec

        def decoded() -> int:
            return sum(b.shape[1] for b in list(blocks))

        pred = load_bundle(self.out / run["bundle"])
        sink = ListSink()
        runner = StreamRunner(src, decoder, pred, [sink], config=RunConfig(backpressure="block", backoff=0.5,
                                                                           max_backoff=2.0, connect_timeout=None),
                             log=self.log)  # emulated BlueZ can take minutes to connect: the deadline bounds it
        th = threading.Thread(target=runner.run, daemon=True)
        th.start()
        deadline = time.monotonic() + run.get("timeout", 300)
        while not ready.is_set() and peri.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        if not ready.is_set():
            runner.stop()
            raise RigError(f"{name}: the peripheral did not start; see {name}-peripheral.log")
        while not done.is_set() and time.monotonic() < deadline and th.is_alive():
            time.sleep(0.2)
        summary = {}
        if done.is_set():
            summary = json.loads(per_log.read_text())
            per = summary["samples_per_packet"]
            want = sum(min(per, summary["samples"] - i * per) for i in summary["sent"])
            while decoded() < want and time.monotonic() < deadline and th.is_alive():
                time.sleep(0.1)
            time.sleep(0.5)  # the reader thread windows what it just decoded
        runner.stop()
        th.join(60)
        peri.terminate()
        try:
            peri.wait(20)
        except subprocess.TimeoutExpired:
            peri.kill()
        if not summary and per_log.exists():
            summary = json.loads(per_log.read_text())
        rep = runner.prof.report()
        data = np.concatenate(blocks, axis=1) if blocks else np.zeros((6, 0), np.float32)
        np.save(d / "samples.npy", data)
        (d / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in sink.records))
        # the offline reference on this CPU: the windows the runtime should have predicted
        # (given which packets the peripheral sent), each predicted alone by the same bundle
        if summary.get("samples_per_packet"):
            counts = np.load(self.out / run["counts"])
            ref = reference_predictions(counts, summary["sent"], summary["samples_per_packet"], pred)
            (d / "reference.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ref))
        res = {"name": name, "error": None if runner.error is None else repr(runner.error),
               "peripheral_done": done.is_set(), "connect_failures_retried": src.connect_failures,
               "profile": {k: rep.get(k) for k in ("packets", "outages", "counters", "stream")}}
        (d / "result.json").write_text(json.dumps(res, indent=1, default=str))
        self.log(f"{name}: {rep['counters'].get('samples')} samples, {len(sink.records)} predictions, "
                 f"packets {rep['packets']['received']} received / {rep['packets']['lost']} lost, "
                 f"outages {rep['outages']['count']}")
        return res

    def main(self) -> int:
        status = {"ok": False, "runs": []}
        try:
            self.bring_up_bluez()
            for run in self.scenario["runs"]:
                status["runs"].append(self.run_one(run)["name"])
            status["ok"] = True
        except Exception as e:  # noqa: BLE001 - reported to the host
            import traceback

            status["error"] = f"{type(e).__name__}: {e}"
            traceback.print_exc()
        finally:
            for p in reversed(self.procs):
                if p.poll() is None:
                    p.terminate()
            for p in self.procs:
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
            (self.out / "status.json").write_text(json.dumps(status))
        return 0 if status["ok"] else 1


# --------------------------------------------------------------------------- host: checks
def prepare(out: Path, recording_data: np.ndarray, bundle: Path, runs: list[dict]) -> dict:
    """Write counts and the bundle into the share; returns the scenario for ``run_guest``.

    ``runs``: dicts with name, service (imu|nus), seconds, pace, and optionally outage_at /
    outage_for (device seconds / wall seconds)."""
    from .simulator import quantize

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copytree(bundle, out / "bundle", dirs_exist_ok=True)
    scenario = {"runs": []}
    for r in runs:
        n = int(round(r["seconds"] * 50.0))
        counts = quantize(recording_data[:, :n], ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"))
        np.save(out / f"{r['name']}-counts.npy", counts)
        scenario["runs"].append({"rate": 50.0, "timeout": 300, **r, "counts": f"{r['name']}-counts.npy",
                                 "bundle": "bundle"})
    return scenario


def expected_windows(n: int, per: int, sent: list[int], window: int, hop: int, rate: float = 50.0,
                     max_fill_s: float = 30.0) -> list[tuple[int, int]]:
    """(stream start, recording start) of every window the runtime predicts when packets
    ``sent`` (indices; ``per`` samples each, ``n`` in all) arrive and the rest are lost.

    The runtime's rules (``assembler.py``, ``windower.py``): a gap longer than
    ``max_fill_s`` restarts the grid at the next sample; a shorter one is filled with
    missing samples (the grid goes on, windows that span it are skipped). Gaps short enough
    to be interpolated (<= 0.1 s) cannot happen here: a packet is >= 0.2 s.
    """
    segs: list[list[int]] = []
    for i in sorted(sent):
        if segs and segs[-1][1] == i * per:
            segs[-1][1] = min((i + 1) * per, n)
        else:
            segs.append([i * per, min((i + 1) * per, n)])
    out, pos, origin, prev_end = [], 0, 0, None
    for a, b in segs:
        if prev_end is not None:
            gap = a - prev_end
            if gap / rate > max_fill_s:
                origin = pos  # grid restart
            else:
                pos += gap  # missing samples
        seg_out = pos
        pos += b - a
        first = origin + max(0, -(-(seg_out - origin) // hop)) * hop
        for st in range(first, pos - window + 1, hop):
            out.append((st, a + st - seg_out))
        prev_end = b
    return out


def reference_predictions(counts: np.ndarray, sent: list[int], per: int, predictor) -> list[dict]:
    """``offline_predictions`` of each window ``expected_windows`` names (the samples as the
    host decodes them: counts x scale), with the stream's window start."""
    from imuedge.edge_runtime.offline import _predictor, offline_predictions
    from .simulator import decoded

    pred = _predictor(predictor)
    inp = pred.manifest["input"]
    W, hop = int(inp["window"]), int(inp["hop"])
    full = decoded(counts, CHANNELS)
    out = []
    for k, (st, src) in enumerate(expected_windows(len(counts), per, sent, W, hop, float(inp["sample_rate_hz"]))):
        rec = offline_predictions(full[:, src:src + W], pred, CHANNELS)[0]
        rec.update(window=k, start=st)
        out.append(rec)
    return out


def default_runs(seconds: float = 60.0, pace: float = 4.0, outage: bool = True) -> list[dict]:
    """The IMU service for ``seconds`` (with a link drop at a third of it: the peripheral
    disconnects and stops advertising for 3 s), then the Nordic UART Service for half as long."""
    imu = {"name": "imu", "service": "imu", "seconds": seconds, "pace": pace}
    if outage:
        imu.update(outage_at=round(seconds / 3, 3), outage_for=3.0)
    return [imu, {"name": "nus", "service": "nus", "seconds": seconds / 2, "pace": pace}]


def check_run(out: Path, name: str, bundle: Path | None = None) -> dict:
    """Compare one run's results with what the peripheral sent and with offline predictions.

    ``predictions_equal``: the streamed predictions equal, exactly, offline predictions of
    the same bundle on the same samples computed in the guest (same CPU) for the windows
    the runtime should predict (``expected_windows``: none spanning packets the
    peripheral did not send). ``host_offline_max_diff``: with ``bundle``, how far those
    scores are from this machine's (0.0 when both CPUs take the same kernels; an emulated
    CPU may differ from the real one in the last bits).
    """
    from .simulator import decoded

    out = Path(out)
    d = out / name
    res = json.loads((d / "result.json").read_text())
    peri = json.loads((d / "peripheral.json").read_text())
    counts = np.load(out / f"{name}-counts.npy")
    per = peri["samples_per_packet"]
    full = decoded(counts, CHANNELS)
    sent_idx = (np.concatenate([np.arange(i * per, min((i + 1) * per, len(counts))) for i in peri["sent"]])
                if peri["sent"] else np.zeros(0, int))
    got = np.load(d / "samples.npy")
    ref = [json.loads(line) for line in (d / "reference.jsonl").read_text().splitlines()]
    recs = [json.loads(line) for line in (d / "predictions.jsonl").read_text().splitlines()]
    outages = res["profile"]["outages"]
    rep = {
        "error": res["error"],
        "mtu": peri["mtu"], "samples_per_packet": per,
        "packets_sent": len(peri["sent"]), "packets_skipped": len(peri["skipped"]),
        "packets_sent_after_gap": sum(1 for i in peri["sent"] if peri["skipped"] and i > max(peri["skipped"])),
        "packets": res["profile"]["packets"], "outages": outages["count"],
        # outages that began as a dropped link (the others: a first connect that failed and was retried)
        "link_drops": sum(1 for o in outages["log"] if str(o.get("reason", "")).endswith(": disconnected")),
        "grid_resets": res["profile"]["stream"]["grid_resets"],
        "samples_equal": got.shape == full[:, sent_idx].shape and bool(np.array_equal(got, full[:, sent_idx])),
        "samples_received": int(got.shape[1]), "samples_sent": int(len(sent_idx)),
        "predictions": len(recs), "expected_predictions": len(ref),
        "predictions_equal": [(r["start"], r["scores"]) for r in recs] == [(r["start"], r["scores"]) for r in ref],
        "connect_failures_retried": res["connect_failures_retried"],
    }
    if bundle is not None:
        host = reference_predictions(counts, peri["sent"], per, str(bundle))
        same_windows = [r["start"] for r in host] == [r["start"] for r in ref]
        rep["host_offline_max_diff"] = (max((abs(a - b) for h, g in zip(host, ref)
                                             for a, b in zip(h["scores"], g["scores"])), default=0.0)
                                        if same_windows else float("inf"))
    return rep


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["guest"]:
        return _Guest(Path(argv[1] if len(argv) > 1 else GUEST_OUT)).main()
    ap = argparse.ArgumentParser(prog="python -m imuedge.emulation.ble_qemu",
                                 description="Stream a HAPT recording from a BLE peripheral to the edge runtime "
                                             "over BlueZ, in a QEMU guest; check against offline predictions.")
    ap.add_argument("--bundle", required=True, help="exported bundle folder (onnx or tflite: no torch in the guest)")
    ap.add_argument("--out", default="ble_qemu_out", help="results folder (the guest's writable share)")
    ap.add_argument("--seconds", type=float, default=60.0, help="seconds of the HAPT recording per run")
    ap.add_argument("--pace", type=float, default=4.0, help="device speed, x real time")
    ap.add_argument("--no-outage", action="store_true", help="skip the disconnect/reconnect run")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds before the guest is killed")
    args = ap.parse_args(argv)
    from imuedge.data import load_hapt

    rec = load_hapt().recordings[0]
    runs = default_runs(args.seconds, args.pace, outage=not args.no_outage)
    out = Path(args.out)
    try:
        scenario = prepare(out, rec.data, Path(args.bundle), runs)
        r = run_guest(out, scenario, timeout=args.timeout)
    except Unavailable as e:
        print(f"ble_qemu: unavailable: {e}", file=sys.stderr)
        return 2
    status = json.loads((out / "status.json").read_text()) if (out / "status.json").exists() else {}
    print(f"guest rc={r['rc']} timed_out={r['timed_out']} status={status}")
    ok = bool(status.get("ok"))
    for run in runs:
        if (out / run["name"] / "result.json").exists():
            c = check_run(out, run["name"], Path(args.bundle))
            print(run["name"], json.dumps(c))
            ok &= (c["samples_equal"] and c["predictions_equal"] and c["error"] is None
                   and c["packets"]["lost"] == c["packets_skipped"] and c["host_offline_max_diff"] < 1e-5)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
