#include "fb_device.h"

#include <string.h>

static void send_packet(fb_device_t *d, size_t len)
{
    size_t n = fb_cobs_encode(d->pkt, len, d->frame, sizeof d->frame - 1);
    if (n == 0)
        return;
    d->frame[n++] = 0x00;
    d->write(d->frame, n, d->user);
    d->tx_seq++;
    d->packets_sent++;
}

static void send_ack(fb_device_t *d, uint16_t acked_seq, uint8_t cmd, uint8_t status, uint32_t value)
{
    fb_ack_t a;
    a.command = cmd;
    a.status = status;
    a.acked_seq = acked_seq;
    a.value = value;
    send_packet(d, fb_encode_ack(d->pkt, sizeof d->pkt, d->tx_seq, &a));
}

static uint32_t period_us(uint16_t rate_hz)
{
    return (1000000UL + rate_hz / 2u) / rate_hz;
}

static void send_info(fb_device_t *d)
{
    fb_info_t i;
    i.supported_mask = d->drv->channel_mask;
    i.active_mask = d->mask;
    i.acc_range_g = d->acc_range_g;
    i.streaming = d->streaming;
    i.gyro_range_dps = d->gyro_range_dps;
    i.sample_period_us = period_us(d->rate_hz);
    i.acc_scale = d->scales.acc_scale;
    i.gyro_scale = d->scales.gyro_scale;
    i.max_samples_per_packet = d->samples_per_packet;
    i.name = d->name;
    i.name_len = (uint8_t)strlen(d->name);
    send_packet(d, fb_encode_info(d->pkt, sizeof d->pkt, d->tx_seq, &i));
}

/* One data packet of up to max samples from the ring; 0 if the ring is empty. */
static unsigned send_data(fb_device_t *d, uint8_t max)
{
    fb_data_writer_t w;
    fb_sample_t s;
    uint16_t overflow;
    uint8_t flags, n = 0, ch;
    size_t len;
    if (fb_ring_count(&d->ring) == 0)
        return 0;
    FB_CRITICAL_BEGIN();
    overflow = fb_ring_take_overflow(&d->ring);
    FB_CRITICAL_END();
    flags = d->pending_flags;
    d->pending_flags = 0;
    if (overflow)
        flags |= FB_FLAG_OVERFLOW;
    if (fb_ring_pop(&d->ring, &s) != 0)
        return 0;
    fb_data_begin(&w, d->pkt, sizeof d->pkt, d->tx_seq, s.t_us, period_us(d->rate_hz), d->scales.acc_scale,
                  d->scales.gyro_scale, overflow, flags, d->mask);
    do {
        for (ch = 0; ch < FB_NUM_CHANNELS; ch++)
            if ((d->mask >> ch & 1u) && (s.v[ch] == INT16_MAX || s.v[ch] == INT16_MIN))
                d->pkt[30] |= FB_FLAG_CLIPPED;
        fb_data_add(&w, s.v);
        n++;
    } while (n < max && fb_ring_pop(&d->ring, &s) == 0);
    len = fb_data_finish(&w);
    send_packet(d, len);
    return 1;
}

int fb_device_init(fb_device_t *d, const imu_driver_t *drv, void *drv_ctx, fb_sample_t *ring_storage,
                   uint8_t ring_capacity, const fb_device_config_t *cfg, fb_write_fn write, void *user)
{
    static const uint8_t zero = 0;
    memset(d, 0, sizeof *d);
    d->drv = drv;
    d->drv_ctx = drv_ctx;
    d->name = cfg->name;
    d->write = write;
    d->user = user;
    d->mask = drv->channel_mask;
    d->samples_per_packet = cfg->samples_per_packet;
    d->acc_range_g = cfg->acc_range_g;
    d->gyro_range_dps = cfg->gyro_range_dps;
    d->rate_hz = cfg->rate_hz;
    if (cfg->samples_per_packet == 0 || cfg->samples_per_packet > FB_MAX_SAMPLES_PER_PACKET)
        return -1;
    if (fb_ring_init(&d->ring, ring_storage, ring_capacity) || fb_sched_init(&d->sched, cfg->tick_hz) ||
        fb_sched_set_rate(&d->sched, cfg->rate_hz))
        return -1;
    if (drv->init(drv_ctx) != 0 ||
        drv->configure(drv_ctx, cfg->rate_hz, cfg->acc_range_g, cfg->gyro_range_dps, &d->scales) != FB_STATUS_OK)
        return -1;
    write(&zero, 1, user); /* delimiter: whatever the host saw before ends here */
    send_info(d);
    return 0;
}

void fb_device_tick(fb_device_t *d)
{
    fb_sample_t s;
    if (!fb_sched_tick(&d->sched) || !d->streaming)
        return;
    if (d->drv->read(d->drv_ctx, s.v) != 0) {
        d->read_errors++;
        return;
    }
    s.t_us = d->sched.now_us;
    fb_ring_push(&d->ring, &s);
}

unsigned fb_device_poll(fb_device_t *d)
{
    unsigned sent = 0;
    while (fb_ring_count(&d->ring) >= d->samples_per_packet)
        sent += send_data(d, d->samples_per_packet);
    return sent;
}

void fb_device_flush(fb_device_t *d)
{
    while (send_data(d, d->samples_per_packet))
        ;
}

static void handle_command(fb_device_t *d, uint16_t seq, const fb_command_t *c)
{
    uint8_t status = FB_STATUS_OK;
    uint32_t value = 0;
    imu_scales_t sc;
    switch (c->command) {
    case FB_CMD_START:
        if (!d->streaming) {
            FB_CRITICAL_BEGIN();
            fb_sched_set_rate(&d->sched, d->rate_hz);
            d->streaming = 1;
            FB_CRITICAL_END();
            d->pending_flags |= FB_FLAG_STARTED;
        }
        break;
    case FB_CMD_STOP:
        d->streaming = 0;
        fb_device_flush(d); /* every sample taken is delivered before the ACK */
        break;
    case FB_CMD_GET_INFO:
        send_info(d);
        break;
    case FB_CMD_SET_RATE:
        if (c->rate_hz == 0 || c->rate_hz > d->sched.tick_hz) {
            status = FB_STATUS_BAD_ARGUMENT;
            break;
        }
        status = d->drv->configure(d->drv_ctx, c->rate_hz, d->acc_range_g, d->gyro_range_dps, &sc);
        if (status != FB_STATUS_OK)
            break;
        fb_device_flush(d); /* packets never mix rates */
        FB_CRITICAL_BEGIN();
        fb_sched_set_rate(&d->sched, c->rate_hz);
        FB_CRITICAL_END();
        d->rate_hz = c->rate_hz;
        d->scales = sc;
        d->pending_flags |= FB_FLAG_CONFIG_CHANGED;
        value = period_us(d->rate_hz);
        break;
    case FB_CMD_SET_RANGES:
        status = d->drv->configure(d->drv_ctx, d->rate_hz, c->acc_range_g, c->gyro_range_dps, &sc);
        if (status != FB_STATUS_OK)
            break;
        fb_device_flush(d);
        d->acc_range_g = c->acc_range_g;
        d->gyro_range_dps = c->gyro_range_dps;
        d->scales = sc;
        d->pending_flags |= FB_FLAG_CONFIG_CHANGED;
        break;
    case FB_CMD_SET_CHANNELS:
        if (c->channel_mask == 0 || (c->channel_mask & ~d->drv->channel_mask)) {
            status = FB_STATUS_BAD_ARGUMENT;
            break;
        }
        fb_device_flush(d);
        d->mask = c->channel_mask;
        d->pending_flags |= FB_FLAG_CONFIG_CHANGED;
        value = d->mask;
        break;
    default:
        status = FB_STATUS_UNKNOWN_COMMAND;
    }
    send_ack(d, seq, c->command, status, value);
}

static void handle_frame(fb_device_t *d)
{
    uint8_t raw[FB_RX_MAX];
    size_t n;
    fb_packet_t p;
    fb_err_t e;
    memset(&p, 0, sizeof p);
    e = d->rx_overrun ? FB_ERR_OVERSIZE : fb_cobs_decode(d->rx, d->rx_len, raw, sizeof raw, &n);
    if (e == FB_OK)
        e = fb_decode(raw, n, &p);
    if (e == FB_OK && p.type != FB_TYPE_COMMAND)
        e = FB_ERR_UNKNOWN_TYPE;
    if (e == FB_OK) {
        handle_command(d, p.seq, &p.u.cmd);
    } else if (e == FB_ERR_UNKNOWN_TYPE && p.type == FB_TYPE_COMMAND) {
        send_ack(d, p.seq, raw[p.header_len], FB_STATUS_UNKNOWN_COMMAND, 0);
    } else {
        d->bad_frames++;
        send_ack(d, 0, 0, FB_STATUS_BAD_PACKET, (uint32_t)e);
    }
}

void fb_device_rx_byte(fb_device_t *d, uint8_t byte)
{
    if (byte != 0) {
        if (d->rx_len < sizeof d->rx)
            d->rx[d->rx_len++] = byte;
        else
            d->rx_overrun = 1;
        return;
    }
    if (d->rx_len || d->rx_overrun)
        handle_frame(d);
    d->rx_len = 0;
    d->rx_overrun = 0;
}
