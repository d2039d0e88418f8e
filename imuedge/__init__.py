"""imuedge: motion-sensing models from the server to the device."""
__version__ = "0.1.0"


def __getattr__(name):
    # Lazy so `import imuedge` stays light (no torch, no runtimes).
    if name == "load_bundle":
        from imuedge.bundle import load_bundle
        return load_bundle
    raise AttributeError(f"module 'imuedge' has no attribute {name!r}")
