#include "fb_ring.h"

int fb_ring_init(fb_ring_t *r, fb_sample_t *storage, uint8_t capacity)
{
    if (capacity == 0 || capacity > 128 || (capacity & (capacity - 1)))
        return -1;
    r->slots = storage;
    r->mask = (uint8_t)(capacity - 1);
    r->head = r->tail = 0;
    r->overflow = 0;
    r->overflow_total = 0;
    return 0;
}

uint8_t fb_ring_count(const fb_ring_t *r)
{
    return (uint8_t)(r->head - r->tail);
}

int fb_ring_push(fb_ring_t *r, const fb_sample_t *s)
{
    uint8_t h = r->head;
    if ((uint8_t)(h - r->tail) > r->mask) {
        if (r->overflow != 0xFFFFu)
            r->overflow++;
        r->overflow_total++;
        return -1;
    }
    r->slots[h & r->mask] = *s;
    r->head = (uint8_t)(h + 1);
    return 0;
}

int fb_ring_pop(fb_ring_t *r, fb_sample_t *out)
{
    uint8_t t = r->tail;
    if (t == r->head)
        return -1;
    *out = r->slots[t & r->mask];
    r->tail = (uint8_t)(t + 1);
    return 0;
}

uint16_t fb_ring_take_overflow(fb_ring_t *r)
{
    uint16_t o = r->overflow;
    r->overflow = 0;
    return o;
}
