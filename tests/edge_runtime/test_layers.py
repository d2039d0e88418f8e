"""The device side depends on the core only: nothing that the core (``imuedge/``), ``edge_runtime/``,
``firmware_bridge/`` or ``android_demo/`` imports, directly or through each other, comes from ``export/`` or
``train/`` (the server side, which needs PyTorch) or from ``emulation/`` (the test rigs). The rigs may import the
product; the product never imports a rig.

The imports are read from the source (``ast``), every one of them, also those inside functions, so an
import that only runs on some path is found too.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# where each installed package's sources live (pyproject.toml's package-dir)
FOLDERS = {"imuedge.train": "train", "imuedge.export": "export", "imuedge.edge_runtime": "edge_runtime",
           "imuedge.firmware_bridge": "firmware_bridge", "imuedge.android_demo": "android_demo",
           "imuedge.emulation": "emulation", "imuedge": "imuedge"}
SERVER_SIDE = ("imuedge.export", "imuedge.train")
RIGS = ("imuedge.emulation",)
DEVICE_SIDE = ("imuedge", "edge_runtime", "firmware_bridge", "android_demo")  # the core and what runs on devices


def source_of(module: str) -> Path | None:
    """The file of an ``imuedge`` module, or None for a module outside the project."""
    for package, folder in FOLDERS.items():  # longest package names first
        if module == package or module.startswith(package + "."):
            rest = module[len(package):].lstrip(".").split(".") if module != package else []
            base = ROOT / folder / Path(*rest) if rest else ROOT / folder
            for path in (base.with_suffix(".py"), base / "__init__.py"):
                if path.is_file():
                    return path
            return None
    return None


def module_of(path: Path) -> str:
    for package, folder in FOLDERS.items():
        try:
            rel = path.relative_to(ROOT / folder)
        except ValueError:
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        return ".".join([package, *parts])
    raise ValueError(path)


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports (``import a.b``, ``from a import b`` as a and a.b, relative ones resolved,
    ``importlib.import_module("...")`` with a literal name)."""
    module = module_of(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1])
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) ==
              "import_module" and node.args and isinstance(node.args[0], ast.Constant)):
            found.add(str(node.args[0].value))
    return found


def reached_from(folder: str) -> dict[str, str]:
    """Every project module that the modules in ``folder`` import, transitively: {module: who imports it}."""
    todo = [(module_of(p), p) for p in sorted((ROOT / folder).rglob("*.py"))]
    seen = {m: m for m, _ in todo}
    while todo:
        importer, path = todo.pop()
        for name in sorted(imports(path)):
            target = source_of(name)
            if not name.startswith("imuedge") or name in seen:
                continue
            seen[name] = importer
            if target is not None:
                todo.append((name, target))
    return seen


def test_the_walk_finds_a_known_import():
    # the walk itself works: edge_runtime's CLI loads bundles from the core, the sources use the protocol; the
    # rigs reach the runtime
    seen = reached_from("edge_runtime")
    assert "imuedge.bundle" in seen and "imuedge.firmware_bridge.protocol" in seen and "imuedge.manifest" in seen
    assert "imuedge.edge_runtime.runner" in reached_from("emulation")


def outside(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    seen = reached_from(folder)
    return [f"{m} (imported by {by})" for m, by in sorted(seen.items()) if m.startswith(forbidden)]


@pytest.mark.parametrize("folder", DEVICE_SIDE)
def test_the_device_side_imports_nothing_from_export_or_train(folder):
    bad = outside(folder, SERVER_SIDE)
    assert not bad, f"{folder} reaches the server side: " + ", ".join(bad)


@pytest.mark.parametrize("folder", DEVICE_SIDE)
def test_the_product_imports_no_rig(folder):
    bad = outside(folder, RIGS)
    assert not bad, f"{folder} reaches the test rigs: " + ", ".join(bad)


def test_the_rigs_live_apart():
    """The simulator, the BLE peripheral and its QEMU harness, the firmware runners, the fuzzer and the vector
    generator are in emulation/, not in a product package."""
    rigs = {"simulator.py", "ble_peripheral.py", "ble_qemu.py", "demo.py", "qemu_e2e.py", "avr_sim.py", "fuzz.py",
            "make_vectors.py"}
    assert rigs <= {p.name for p in (ROOT / "emulation").glob("*.py")}
    in_product = [str(p.relative_to(ROOT)) for folder in DEVICE_SIDE + ("train", "export")
                  for p in (ROOT / folder).rglob("*.py") if p.name in rigs]
    assert not in_product, in_product


def test_the_runtime_reads_the_window_from_its_spec():
    """The window length, hop and rate come from the bundle's ``WindowSpec`` (``imuedge.manifest.window_spec``),
    not from ``manifest["input"]["window"]`` read again wherever they are needed."""
    reads = []
    for path in sorted((ROOT / "edge_runtime").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant)
                    and node.slice.value in ("window", "hop", "sample_rate_hz")):
                reads.append(f"{path.name}:{node.lineno} [{node.slice.value!r}]")
    assert not reads, f"window fields read from a dict: {reads}"
