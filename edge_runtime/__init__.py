"""imuedge edge runtime: a live IMU stream -> windows -> model -> predictions, profiled.

    Source (serial | ble | replay)   sources.py     bytes / sample blocks; reconnects
    Decoder                          firmware_bridge.profiles.decoder_for(...)
    Assembler                        assembler.py   channels, timing, gaps, resampling, drift
    Windower                         windower.py    window / hop from the bundle's manifest
    Predictor                        imuedge.load_bundle(...)  any backend
    Sinks                            sinks.py       JSON lines, callback, majority vote
    StreamRunner                     runner.py      reader + inference threads, bounded queue
    Profiler                         profiler.py    stage latencies, e2e, CPU, memory, counters

CLI: ``imuedge stream`` and ``imuedge record`` (cli.py). Reference: offline.offline_predictions.
The devices it is tested against (a simulator on a pseudo-terminal, a BLE peripheral on BlueZ) are rigs in
``emulation/``, apart from the runtime.
"""
