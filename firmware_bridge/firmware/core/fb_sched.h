/* Fixed-rate sample scheduler driven by a periodic tick (SysTick, a timer
 * interrupt, or a test loop). Any integer rate up to the tick rate; the long-run
 * average is exact (accumulator, like Bresenham), jitter is one tick. */
#ifndef FB_SCHED_H
#define FB_SCHED_H

#include <stdint.h>

typedef struct {
    uint32_t tick_hz, tick_us, rate_hz, acc;
    uint32_t now_us; /* device clock, wraps at 2^32 like the wire timestamp */
} fb_sched_t;

int fb_sched_init(fb_sched_t *s, uint32_t tick_hz); /* tick_hz must divide 1,000,000 */
int fb_sched_set_rate(fb_sched_t *s, uint32_t rate_hz); /* 1..tick_hz, else -1 */
uint8_t fb_sched_tick(fb_sched_t *s); /* advances one tick; 1 if a sample is due */

#endif
