/* Port hooks for the firmware core. A board may define these before including
 * the core (e.g. with -include), otherwise host-friendly defaults are used. */
#ifndef FB_PORT_H
#define FB_PORT_H

/* Critical section around state shared with the sample-clock interrupt. */
#ifndef FB_CRITICAL_BEGIN
#define FB_CRITICAL_BEGIN() do { } while (0)
#define FB_CRITICAL_END() do { } while (0)
#endif

/* Read-only sample tables: AVR keeps them in flash (PROGMEM) and reads them
 * with pgm_read_word; everywhere else they are plain const arrays. */
#ifndef FB_ROM
#define FB_ROM
#define FB_ROM_READ_I16(p) (*(p))
#endif

/* Samples per data packet the device builds (bounded by its RAM). */
#ifndef FB_MAX_SAMPLES_PER_PACKET
#define FB_MAX_SAMPLES_PER_PACKET 10
#endif

/* Longest command frame the device accepts (COBS-encoded, without delimiter). */
#ifndef FB_RX_MAX
#define FB_RX_MAX 40
#endif

#endif
