"""imuedge firmware bridge: the wire protocol (``protocol``), its shared test
vectors, the microcontroller firmware that speaks it (``firmware/``, C99) and
the tools that run it in emulation (``qemu_e2e``, ``avr_sim``).
Spec: ``PROTOCOL.md`` next to this file."""
