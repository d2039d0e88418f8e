/* Single-producer (sample interrupt) / single-consumer (main loop) ring of
 * timestamped 6-channel samples. When full, the NEW sample is dropped and
 * counted; the count travels in the next data packet (never silent). */
#ifndef FB_RING_H
#define FB_RING_H

#include <stdint.h>

typedef struct {
    uint32_t t_us;
    int16_t v[6];
} fb_sample_t;

typedef struct {
    fb_sample_t *slots;
    uint8_t mask; /* capacity - 1; capacity is a power of two <= 128 */
    volatile uint8_t head, tail; /* free-running; one byte so reads are atomic on AVR */
    volatile uint16_t overflow; /* dropped since the last fb_ring_take_overflow, saturating */
    volatile uint32_t overflow_total;
} fb_ring_t;

int fb_ring_init(fb_ring_t *r, fb_sample_t *storage, uint8_t capacity);
int fb_ring_push(fb_ring_t *r, const fb_sample_t *s); /* 0, or -1 when dropped */
int fb_ring_pop(fb_ring_t *r, fb_sample_t *out); /* 0, or -1 when empty */
uint8_t fb_ring_count(const fb_ring_t *r);
uint16_t fb_ring_take_overflow(fb_ring_t *r); /* call inside a critical section */

#endif
