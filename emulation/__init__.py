"""imuedge emulation: the rigs that test the product from outside -- a device simulator on a pseudo-terminal,
a BLE peripheral on BlueZ and its QEMU harness, the firmware's QEMU and simavr runners, the decoders' fuzzer, the
shared vectors' generator and the HAPT demo stream. See README.md here. The product packages (``edge_runtime``,
``firmware_bridge``, the core) never import this one."""


class RigError(RuntimeError):
    """A rig could not do its job or a check it makes failed (a tool did not start, the device sent something
    else than it should): one line says what. The rigs' own errors subclass it; none of them is an ``assert``,
    so ``python -O`` keeps every check."""


def one_line(output: str | bytes, lines: int = 1, limit: int = 600) -> str:
    """The last ``lines`` lines of a process's output as one line (for a ``RigError`` message): by default the
    last, which for a traceback is the exception and its message."""
    if isinstance(output, bytes):
        output = output.decode(errors="replace")
    text = " | ".join(line.strip() for line in output.strip().splitlines()[-lines:] if line.strip())
    return text if len(text) <= limit else "..." + text[-limit:]
