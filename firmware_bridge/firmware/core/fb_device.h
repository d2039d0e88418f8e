/* The device side of the protocol: sample clock -> driver -> ring -> data
 * packets -> COBS frames out; COBS frames in -> commands -> ACKs. */
#ifndef FB_DEVICE_H
#define FB_DEVICE_H

#include "fb_port.h"
#include "fb_protocol.h"
#include "fb_ring.h"
#include "fb_sched.h"
#include "imu_driver.h"

typedef void (*fb_write_fn)(const uint8_t *data, size_t n, void *user);

#define FB_TX_PACKET_MAX FB_DATA_PACKET_LEN(FB_MAX_SAMPLES_PER_PACKET, FB_NUM_CHANNELS)
#if FB_TX_PACKET_MAX < 64
#undef FB_TX_PACKET_MAX
#define FB_TX_PACKET_MAX 64
#endif

typedef struct {
    const imu_driver_t *drv;
    void *drv_ctx;
    const char *name;
    fb_ring_t ring;
    fb_sched_t sched;
    fb_write_fn write;
    void *user;
    uint16_t tx_seq;
    volatile uint8_t streaming;
    uint8_t mask, samples_per_packet, acc_range_g, pending_flags;
    uint16_t gyro_range_dps, rate_hz;
    imu_scales_t scales;
    uint32_t read_errors, bad_frames, packets_sent;
    uint8_t rx[FB_RX_MAX];
    uint8_t rx_len, rx_overrun;
    uint8_t pkt[FB_TX_PACKET_MAX];
    uint8_t frame[FB_COBS_MAX(FB_TX_PACKET_MAX) + 1];
} fb_device_t;

typedef struct {
    uint32_t tick_hz;     /* rate of fb_device_tick calls */
    uint16_t rate_hz;     /* initial sample rate */
    uint8_t acc_range_g;  /* initial ranges */
    uint16_t gyro_range_dps;
    uint8_t samples_per_packet; /* <= FB_MAX_SAMPLES_PER_PACKET */
    const char *name;
} fb_device_config_t;

/* Returns 0, or -1 if the configuration or the driver refuses. Sends a
 * leading 0x00 and a DEVICE_INFO packet so the host can synchronise. */
int fb_device_init(fb_device_t *d, const imu_driver_t *drv, void *drv_ctx, fb_sample_t *ring_storage,
                   uint8_t ring_capacity, const fb_device_config_t *cfg, fb_write_fn write, void *user);
/* Sample clock: call at cfg->tick_hz (from the timer interrupt). */
void fb_device_tick(fb_device_t *d);
/* Main loop: send every full data packet waiting; returns packets sent. */
unsigned fb_device_poll(fb_device_t *d);
/* Main loop: one received byte (commands arrive COBS-framed). */
void fb_device_rx_byte(fb_device_t *d, uint8_t byte);
/* Send what is in the ring now, in packets of at most samples_per_packet. */
void fb_device_flush(fb_device_t *d);

#endif
