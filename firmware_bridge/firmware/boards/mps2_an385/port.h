/* Port definitions for the Cortex-M3 (QEMU mps2-an385) build; force-included. */
#ifndef MPS2_PORT_H
#define MPS2_PORT_H
#define FB_CRITICAL_BEGIN() __asm__ volatile("cpsid i" ::: "memory")
#define FB_CRITICAL_END() __asm__ volatile("cpsie i" ::: "memory")
#define FB_MAX_SAMPLES_PER_PACKET 25
#define FB_RX_MAX 40
#endif
