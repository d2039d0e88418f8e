/* Port definitions for the AVR ATmega328P build; force-included. */
#ifndef M328P_PORT_H
#define M328P_PORT_H
#include <avr/io.h>
#include <avr/pgmspace.h>
#define FB_ROM PROGMEM
#define FB_ROM_READ_I16(p) ((int16_t)pgm_read_word(p))
#define FB_CRITICAL_BEGIN() do { uint8_t fb_sreg_ = SREG; __asm__ volatile("cli" ::: "memory")
#define FB_CRITICAL_END() SREG = fb_sreg_; } while (0)
#define FB_MAX_SAMPLES_PER_PACKET 4
#define FB_RX_MAX 24
#endif
