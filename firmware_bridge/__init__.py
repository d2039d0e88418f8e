"""imuedge firmware bridge: the wire protocol (``protocol``), its shared test
vectors, the microcontroller firmware that speaks it (``firmware/``, C99) and
the stream decoders. The tools that run the firmware in emulation, fuzz the
decoders and generate the vectors are rigs in ``emulation/``.
Spec: ``PROTOCOL.md`` next to this file."""
