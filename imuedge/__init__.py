"""imuedge: motion-sensing models from the server to the device."""
__version__ = "0.1.0"
