"""Stream profiles: byte stream from a device -> blocks of samples in physical units.

One decoder per wire format, all with the same shape::

    dec = decoder_for("imuedge")            # or "imuedge-ble", "text", "sensorserver", "witmotion", ...
    for chunk in chunks:                     # bytes as they arrive (any split)
        for block in dec.feed(chunk):        # list[SampleBlock]
            block.data                       # float32 (channels, n), m/s^2 and rad/s
    dec.stats                                # counters, see each class

Profiles (details and units: ``firmware_bridge/README.md``, "Stream profiles"):

``imuedge``       the imuedge binary protocol over serial (COBS frames, PROTOCOL.md)
``imuedge-ble``   the imuedge protocol over BLE: each ``feed`` is ONE notification = one packet
``text``          lines of comma/space/tab-separated numbers (Arduino/ESP32 sketches, the
                  Edge Impulse data-forwarder convention), optional leading timestamp column
``sensorserver``  JSON messages of the Android app SensorServer (WebSocket), one per sensor event
``witmotion``     WitMotion WT901-family serial output: 11-byte 0x55-framed packets with checksum
``witmotion-ble`` WitMotion BLE modules (WT901BLECL/BWT901BLE): 20-byte 0x55 0x61 combined packets

Every ``stats`` dict has at least the keys ``packets`` (units decoded: packets, lines or
messages), ``samples``, ``corrupt``, ``lost`` and ``skipped``; the rest is per profile.
A decoder never raises on bad input: bad input is counted and skipped.

One module per wire format (``imuedge_packets``, ``text``, ``sensorserver``, ``witmotion``); what they
share is in ``blocks``.
"""
from __future__ import annotations

from typing import Callable

from .blocks import MAX_BAD_LINES, SampleBlock, StreamDecoder
from .imuedge_packets import ImuedgeBLEDecoder, ImuedgeSerialDecoder
from .sensorserver import SENSORSERVER_ACC, SENSORSERVER_GYRO, SensorServerDecoder
from .text import TextLineDecoder
from .witmotion import WitMotionDecoder

__all__ = ["SampleBlock", "StreamDecoder", "decoder_for", "PROFILES", "MAX_BAD_LINES", "ImuedgeSerialDecoder",
           "ImuedgeBLEDecoder", "TextLineDecoder", "SensorServerDecoder", "SENSORSERVER_ACC", "SENSORSERVER_GYRO",
           "WitMotionDecoder"]

PROFILES: dict[str, Callable[..., StreamDecoder]] = {
    "imuedge": ImuedgeSerialDecoder,
    "imuedge-ble": ImuedgeBLEDecoder,
    "text": TextLineDecoder,
    "sensorserver": SensorServerDecoder,
    "witmotion": WitMotionDecoder,
    "witmotion-ble": lambda **kw: WitMotionDecoder(ble=True, **kw),
}


def decoder_for(profile: str, **options) -> StreamDecoder:
    """A fresh decoder for ``profile`` (see PROFILES); ``options`` go to its constructor."""
    try:
        make = PROFILES[profile]
    except KeyError:
        raise ValueError(f"unknown stream profile {profile!r}; known: {sorted(PROFILES)}") from None
    return make(**options)
