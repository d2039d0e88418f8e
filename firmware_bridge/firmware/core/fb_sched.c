#include "fb_sched.h"

int fb_sched_init(fb_sched_t *s, uint32_t tick_hz)
{
    if (tick_hz == 0 || 1000000UL % tick_hz)
        return -1;
    s->tick_hz = tick_hz;
    s->tick_us = 1000000UL / tick_hz;
    s->rate_hz = 0;
    s->acc = 0;
    s->now_us = 0;
    return 0;
}

int fb_sched_set_rate(fb_sched_t *s, uint32_t rate_hz)
{
    if (rate_hz == 0 || rate_hz > s->tick_hz)
        return -1;
    s->rate_hz = rate_hz;
    s->acc = s->tick_hz - rate_hz; /* first sample on the next tick */
    return 0;
}

uint8_t fb_sched_tick(fb_sched_t *s)
{
    s->now_us += s->tick_us;
    s->acc += s->rate_hz;
    if (s->acc >= s->tick_hz) {
        s->acc -= s->tick_hz;
        return 1;
    }
    return 0;
}
