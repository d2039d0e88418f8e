/* Host unit tests of the firmware core, against the shared JSON vectors
 * (converted to vectors_gen.h by vectors_to_c.py) plus behaviour tests of the
 * ring, scheduler, device state machine and the sensor drivers (fake bus). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bmi270.h"
#include "fb_device.h"
#include "fb_protocol.h"
#include "lsm6dsox.h"
#include "replay_driver.h"
#include "vectors_gen.h"

static int failures, checks;
#define CHECK(cond, ...)                                                                                   \
    do {                                                                                                   \
        checks++;                                                                                          \
        if (!(cond)) {                                                                                     \
            failures++;                                                                                    \
            printf("FAIL %s:%d: %s -- ", __FILE__, __LINE__, #cond);                                      \
            printf(__VA_ARGS__);                                                                           \
            printf("\n");                                                                                  \
        }                                                                                                  \
    } while (0)

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static void test_crc(void)
{
    CHECK(fb_crc16((const uint8_t *)"123456789", 9, FB_CRC_INIT) == 0x29B1, "check value");
}

static uint8_t buf[8192], buf2[8192];

static void test_packet_vectors(void)
{
    unsigned i, s, c;
    for (i = 0; i < N_VEC_PACKETS; i++) {
        const vec_packet_t *v = &VEC_PACKETS[i];
        const uint8_t *pkt = v->bytes;
        size_t n = v->len;
        fb_packet_t p;
        fb_err_t e = FB_OK;
        if (v->is_frame) {
            e = fb_cobs_decode(v->bytes, v->len, buf, sizeof buf, &n);
            pkt = buf;
        }
        if (e == FB_OK)
            e = fb_decode(pkt, n, &p);
        if (v->error) {
            CHECK(strcmp(fb_err_name(e), v->error) == 0, "%s: got %s, want %s", v->name, fb_err_name(e), v->error);
            continue;
        }
        CHECK(e == FB_OK, "%s: %s", v->name, fb_err_name(e));
        if (e != FB_OK)
            continue;
        CHECK(p.type == v->type && p.seq == v->seq && p.major == v->major && p.minor == v->minor, "%s header",
              v->name);
        if (p.type == FB_TYPE_DATA) {
            const fb_data_t *d = &p.u.data;
            CHECK(d->timestamp_us == v->ts && d->sample_period_us == v->period && d->overflow_count == v->overflow &&
                      d->n_samples == v->n && d->channel_mask == v->mask && d->flags == v->flags,
                  "%s data fields", v->name);
            CHECK(f32_bits(d->acc_scale) == v->acc_bits && f32_bits(d->gyro_scale) == v->gyro_bits, "%s scales",
                  v->name);
            for (s = 0; s < d->n_samples; s++)
                for (c = 0; c < d->n_channels; c++)
                    CHECK(fb_data_sample(d, s, c) == v->samples[s * d->n_channels + c], "%s sample %u,%u", v->name, s,
                          c);
            if (p.minor == FB_VERSION_MINOR) { /* the C packetizer reproduces the bytes */
                fb_data_writer_t w;
                size_t len;
                unsigned k = 0;
                fb_data_begin(&w, buf2, sizeof buf2, p.seq, d->timestamp_us, d->sample_period_us, d->acc_scale,
                              d->gyro_scale, d->overflow_count, d->flags, d->channel_mask);
                for (s = 0; s < d->n_samples; s++) {
                    int16_t row[6] = {0, 0, 0, 0, 0, 0};
                    for (c = 0; c < 6; c++)
                        if (d->channel_mask >> c & 1u)
                            row[c] = v->samples[k++];
                    fb_data_add(&w, row);
                }
                len = fb_data_finish(&w);
                CHECK(len == n && memcmp(buf2, pkt, n) == 0, "%s: C encoding differs", v->name);
            }
        } else if (p.type == FB_TYPE_COMMAND) {
            const fb_command_t *cm = &p.u.cmd;
            CHECK(cm->command == v->command && cm->rate_hz == v->rate_hz && cm->acc_range_g == v->acc_range_g &&
                      cm->gyro_range_dps == v->gyro_range_dps && cm->channel_mask == v->mask,
                  "%s command fields", v->name);
            CHECK(fb_encode_command(buf2, sizeof buf2, p.seq, cm) == n && memcmp(buf2, pkt, n) == 0,
                  "%s: C encoding differs", v->name);
        } else if (p.type == FB_TYPE_ACK) {
            const fb_ack_t *a = &p.u.ack;
            CHECK(a->command == v->command && a->acked_seq == v->acked_seq && a->status == v->status &&
                      a->value == v->value, "%s ack fields", v->name);
            if (p.minor == FB_VERSION_MINOR)
                CHECK(fb_encode_ack(buf2, sizeof buf2, p.seq, a) == n && memcmp(buf2, pkt, n) == 0,
                      "%s: C encoding differs", v->name);
        } else {
            const fb_info_t *in = &p.u.info;
            CHECK(in->supported_mask == v->supported_mask && in->active_mask == v->mask &&
                      in->acc_range_g == v->acc_range_g && in->gyro_range_dps == v->gyro_range_dps &&
                      in->streaming == v->streaming && in->sample_period_us == v->period &&
                      f32_bits(in->acc_scale) == v->acc_bits && f32_bits(in->gyro_scale) == v->gyro_bits &&
                      in->max_samples_per_packet == v->max_samples && in->name_len == strlen(v->info_name) &&
                      memcmp(in->name, v->info_name, in->name_len) == 0,
                  "%s info fields", v->name);
            CHECK(fb_encode_info(buf2, sizeof buf2, p.seq, in) == n && memcmp(buf2, pkt, n) == 0,
                  "%s: C encoding differs", v->name);
        }
    }
}

static void test_cobs_vectors(void)
{
    unsigned i;
    for (i = 0; i < N_VEC_COBS; i++) {
        const vec_cobs_t *v = &VEC_COBS[i];
        size_t n = 0;
        fb_err_t e = fb_cobs_decode(v->cobs, v->cobs_len, buf, sizeof buf, &n);
        if (v->error) {
            CHECK(strcmp(fb_err_name(e), v->error) == 0, "%s: got %s", v->name, fb_err_name(e));
            continue;
        }
        CHECK(e == FB_OK && n == v->raw_len && (n == 0 || memcmp(buf, v->raw, n) == 0), "%s decode", v->name);
        n = fb_cobs_encode(v->raw, v->raw_len, buf, sizeof buf);
        CHECK(n == v->cobs_len && memcmp(buf, v->cobs, n) == 0, "%s encode", v->name);
        CHECK(n <= FB_COBS_MAX(v->raw_len), "%s max", v->name);
    }
    CHECK(fb_cobs_encode((const uint8_t *)"\x11\x22\x33", 3, buf, 3) == 0, "cap too small is refused");
}

static void test_ring(void)
{
    fb_ring_t r;
    fb_sample_t st[4], s;
    int i;
    CHECK(fb_ring_init(&r, st, 3) == -1, "capacity must be a power of two");
    fb_ring_init(&r, st, 4);
    for (i = 0; i < 7; i++) {
        s.t_us = (uint32_t)i;
        fb_ring_push(&r, &s);
    }
    CHECK(fb_ring_count(&r) == 4 && r.overflow == 3 && r.overflow_total == 3, "overflow counted");
    CHECK(fb_ring_take_overflow(&r) == 3 && r.overflow == 0, "take resets");
    for (i = 0; i < 4; i++)
        CHECK(fb_ring_pop(&r, &s) == 0 && s.t_us == (uint32_t)i, "FIFO order, newest dropped");
    CHECK(fb_ring_pop(&r, &s) == -1, "empty");
    for (i = 0; i < 600; i++) { /* index wrap */
        CHECK(fb_ring_push(&r, &s) == 0 && fb_ring_pop(&r, &s) == 0, "wrap %d", i);
    }
}

static void test_sched(void)
{
    fb_sched_t s;
    unsigned i, due = 0;
    CHECK(fb_sched_init(&s, 3) == -1, "tick must divide 1e6");
    fb_sched_init(&s, 1000);
    CHECK(fb_sched_set_rate(&s, 1001) == -1 && fb_sched_set_rate(&s, 0) == -1, "rate bounds");
    fb_sched_set_rate(&s, 50);
    for (i = 0; i < 1000; i++)
        due += fb_sched_tick(&s);
    CHECK(due == 50 && s.now_us == 1000000u, "50 Hz from a 1 kHz tick: %u", due);
    fb_sched_set_rate(&s, 7);
    for (due = 0, i = 0; i < 3000; i++)
        due += fb_sched_tick(&s);
    CHECK(due == 21, "7 Hz exact over 3 s: %u", due);
}

/* ---- device state machine over a captured byte stream ---- */
static const int16_t table[5][6] = {{1, 2, 3, 4, 5, 6}, {-1, -2, -3, -4, -5, -6}, {32767, 0, 0, 0, 0, -32768},
                                    {100, 200, 300, 400, 500, 600}, {7, 7, 7, 7, 7, 7}};
static uint8_t out[16384];
static size_t out_len;

static void capture(const uint8_t *d, size_t n, void *user)
{
    (void)user;
    if (out_len + n <= sizeof out) {
        memcpy(out + out_len, d, n);
        out_len += n;
    }
}

/* Decode captured frames into packets (stored one after another in pk_store). */
static uint8_t pk_store[16384];
static fb_packet_t pks[256];
static unsigned decode_captured(void)
{
    size_t i = 0, start = 0, used = 0;
    unsigned np = 0;
    for (i = 0; i < out_len; i++) {
        if (out[i] == 0) {
            size_t n;
            if (i > start && fb_cobs_decode(out + start, i - start, pk_store + used, sizeof pk_store - used, &n) == FB_OK) {
                CHECK(fb_decode(pk_store + used, n, &pks[np]) == FB_OK, "device frame decodes");
                np++;
                used += n;
            }
            start = i + 1;
        }
    }
    out_len = 0;
    return np;
}

static void send_cmd(fb_device_t *d, uint16_t seq, uint8_t cmd, uint16_t arg)
{
    fb_command_t c;
    uint8_t raw[32], enc[40];
    size_t n, i;
    memset(&c, 0, sizeof c);
    c.command = cmd;
    c.rate_hz = arg;
    c.channel_mask = (uint8_t)arg;
    c.acc_range_g = (uint8_t)arg;
    c.gyro_range_dps = 2000;
    n = fb_encode_command(raw, sizeof raw, seq, &c);
    n = fb_cobs_encode(raw, n, enc, sizeof enc);
    for (i = 0; i < n; i++)
        fb_device_rx_byte(d, enc[i]);
    fb_device_rx_byte(d, 0);
}

static void test_device(void)
{
    static fb_device_t dev;
    fb_sample_t ring[8];
    replay_ctx_t rc = {table, 5, 0, 8, 2000, 0.25f, 0.5f, 0};
    fb_device_config_t cfg = {1000, 100, 8, 2000, 3, "test"};
    unsigned np, i, k, got = 0;
    uint16_t last_seq;
    out_len = 0;
    CHECK(fb_device_init(&dev, &replay_driver, &rc, ring, 8, &cfg, capture, NULL) == 0, "init");
    CHECK(out[0] == 0, "leading delimiter");
    np = decode_captured();
    CHECK(np == 1 && pks[0].type == FB_TYPE_DEVICE_INFO && pks[0].u.info.sample_period_us == 10000, "hello info");
    for (i = 0; i < 100; i++)
        fb_device_tick(&dev); /* stopped: nothing sampled */
    CHECK(fb_ring_count(&dev.ring) == 0, "no samples while stopped");
    send_cmd(&dev, 1, FB_CMD_START, 0);
    np = decode_captured();
    CHECK(np == 1 && pks[0].type == FB_TYPE_ACK && pks[0].u.ack.status == FB_STATUS_OK && pks[0].u.ack.acked_seq == 1,
          "START acked");
    for (i = 0; i < 60; i++) { /* 60 ms at 100 Hz = 6 samples = 2 packets of 3 */
        fb_device_tick(&dev);
        fb_device_poll(&dev);
    }
    np = decode_captured();
    CHECK(np == 2, "two data packets: %u", np);
    for (i = 0; i < np; i++) {
        const fb_data_t *d = &pks[i].u.data;
        CHECK(pks[i].type == FB_TYPE_DATA && d->n_samples == 3 && d->sample_period_us == 10000, "data packet");
        CHECK(d->timestamp_us == 101000u + 10000u * got, "timestamp %lu", (unsigned long)d->timestamp_us);
        CHECK(((d->flags & FB_FLAG_STARTED) != 0) == (i == 0), "STARTED on the first only");
        for (k = 0; k < 3; k++, got++)
            CHECK(fb_data_sample(d, k, 0) == table[got % 5][0] && fb_data_sample(d, k, 5) == table[got % 5][5],
                  "replayed sample %u", got);
        CHECK(((d->flags & FB_FLAG_CLIPPED) != 0) == (i == 0), "CLIPPED where a sample is at the limit");
    }
    last_seq = pks[np - 1].seq;
    /* overflow: 12 samples into a ring of 8 without polling */
    for (i = 0; i < 120; i++)
        fb_device_tick(&dev);
    fb_device_poll(&dev);
    np = decode_captured();
    CHECK(np == 2 && (pks[0].u.data.flags & FB_FLAG_OVERFLOW) && pks[0].u.data.overflow_count == 4 &&
              !(pks[1].u.data.flags & FB_FLAG_OVERFLOW), "overflow reported in-stream once: %u", pks[0].u.data.overflow_count);
    CHECK(pks[0].seq == (uint16_t)(last_seq + 1), "seq continues");
    fb_device_tick(&dev);
    fb_device_tick(&dev);
    fb_device_tick(&dev);
    for (i = 0; i < 20; i++)
        fb_device_tick(&dev); /* 2 more samples waiting, less than a packet */
    send_cmd(&dev, 2, FB_CMD_SET_RATE, 0);
    np = decode_captured();
    CHECK(np == 1 && pks[0].u.ack.status == FB_STATUS_BAD_ARGUMENT, "rate 0 refused");
    send_cmd(&dev, 3, FB_CMD_SET_RATE, 250);
    np = decode_captured();
    CHECK(np == 3 && pks[0].type == FB_TYPE_DATA && pks[1].type == FB_TYPE_DATA && pks[1].u.data.n_samples < 3 &&
              pks[2].type == FB_TYPE_ACK && pks[2].u.ack.value == 4000 && pks[2].u.ack.acked_seq == 3,
          "SET_RATE flushes old-rate samples, then acks (%u packets)", np);
    for (i = 0; i < 12; i++) {
        fb_device_tick(&dev);
        fb_device_poll(&dev);
    }
    np = decode_captured();
    CHECK(np == 1 && pks[0].u.data.sample_period_us == 4000 && (pks[0].u.data.flags & FB_FLAG_CONFIG_CHANGED),
          "new rate in effect");
    send_cmd(&dev, 4, FB_CMD_SET_RANGES, 4);
    np = decode_captured();
    CHECK(np == 1 && pks[0].u.ack.status == FB_STATUS_UNSUPPORTED, "replay cannot change ranges");
    send_cmd(&dev, 5, FB_CMD_SET_CHANNELS, 0x07);
    for (i = 0; i < 12; i++) {
        fb_device_tick(&dev);
        fb_device_poll(&dev);
    }
    np = decode_captured();
    CHECK(np == 2 && pks[0].u.ack.value == 7 && pks[1].u.data.channel_mask == 7 && pks[1].u.data.n_channels == 3,
          "channel subset");
    fb_device_tick(&dev);
    fb_device_tick(&dev);
    fb_device_tick(&dev);
    fb_device_tick(&dev);
    send_cmd(&dev, 6, FB_CMD_STOP, 0);
    np = decode_captured();
    CHECK(np == 2 && pks[0].type == FB_TYPE_DATA && pks[1].type == FB_TYPE_ACK && !dev.streaming,
          "STOP delivers the last samples, then acks");
    send_cmd(&dev, 7, FB_CMD_GET_INFO, 0);
    np = decode_captured();
    CHECK(np == 2 && pks[0].type == FB_TYPE_DEVICE_INFO && pks[0].u.info.active_mask == 7 &&
              pks[0].u.info.sample_period_us == 4000 && !pks[0].u.info.streaming && pks[1].type == FB_TYPE_ACK,
          "GET_INFO");
    {
        static const uint8_t junk[] = {0x05, 0x11, 0x22, 0x00};
        for (i = 0; i < sizeof junk; i++)
            fb_device_rx_byte(&dev, junk[i]);
        for (i = 0; i < 100; i++)
            fb_device_rx_byte(&dev, 0x41); /* overlong frame */
        fb_device_rx_byte(&dev, 0);
        np = decode_captured();
        CHECK(np == 2 && pks[0].u.ack.status == FB_STATUS_BAD_PACKET && pks[1].u.ack.status == FB_STATUS_BAD_PACKET &&
                  dev.bad_frames == 2, "bad command frames are answered, not fatal");
        send_cmd(&dev, 8, FB_CMD_START, 0);
        np = decode_captured();
        CHECK(np == 1 && pks[0].u.ack.status == FB_STATUS_OK && pks[0].u.ack.acked_seq == 8, "usable afterwards");
    }
}

/* ---- drivers against a fake register file ---- */
typedef struct {
    uint8_t regs[256];
    unsigned init_data_bytes, writes;
} fake_bus_t;

static int fake_read(void *ctx, uint8_t reg, uint8_t *b, size_t n)
{
    fake_bus_t *f = (fake_bus_t *)ctx;
    size_t i;
    for (i = 0; i < n; i++)
        b[i] = f->regs[(reg + i) & 0xFF];
    return 0;
}

static int fake_write(void *ctx, uint8_t reg, const uint8_t *b, size_t n)
{
    fake_bus_t *f = (fake_bus_t *)ctx;
    size_t i;
    f->writes++;
    if (reg == BMI270_INIT_DATA) {
        f->init_data_bytes += (unsigned)n;
        return 0;
    }
    for (i = 0; i < n; i++)
        f->regs[(reg + i) & 0xFF] = b[i];
    return 0;
}

static void fake_delay(void *ctx, uint32_t us)
{
    (void)ctx;
    (void)us;
}

static void test_drivers(void)
{
    static fake_bus_t fb;
    imu_bus_t bus = {fake_read, fake_write, fake_delay, &fb};
    imu_scales_t sc;
    int16_t s[6];
    static const uint8_t blob[100] = {1};
    memset(&fb, 0, sizeof fb);
    {
        lsm6dsox_ctx_t c = {&bus};
        CHECK(lsm6dsox_driver.init(&c) == -1, "wrong WHO_AM_I refused");
        fb.regs[LSM6DSOX_WHO_AM_I] = LSM6DSOX_WHO_AM_I_VALUE;
        CHECK(lsm6dsox_driver.init(&c) == 0 && fb.regs[LSM6DSOX_CTRL3_C] == 0x44, "init: BDU|IF_INC");
        CHECK(lsm6dsox_driver.configure(&c, 100, 8, 2000, &sc) == FB_STATUS_OK, "configure");
        CHECK(fb.regs[LSM6DSOX_CTRL1_XL] == 0x4C && fb.regs[LSM6DSOX_CTRL2_G] == 0x4C, "104 Hz, 8 g, 2000 dps: %02x %02x",
              fb.regs[LSM6DSOX_CTRL1_XL], fb.regs[LSM6DSOX_CTRL2_G]);
        CHECK(sc.acc_scale > 0.002392f && sc.acc_scale < 0.002394f && sc.gyro_scale > 0.0012216f &&
                  sc.gyro_scale < 0.0012218f, "scales");
        CHECK(lsm6dsox_driver.configure(&c, 50, 3, 2000, &sc) == FB_STATUS_UNSUPPORTED, "3 g unsupported");
        CHECK(lsm6dsox_odr_bits(12) == 1 && lsm6dsox_odr_bits(13) == 2 && lsm6dsox_odr_bits(50) == 3 &&
                  lsm6dsox_odr_bits(7000) == 0, "ODR table");
        fb.regs[0x22] = 0x01; fb.regs[0x23] = 0x02; /* gyro x = 0x0201 */
        fb.regs[0x28] = 0xFF; fb.regs[0x29] = 0xFF; /* acc x = -1 */
        CHECK(lsm6dsox_driver.read(&c, s) == 0 && s[0] == -1 && s[3] == 0x0201, "acc before gyro in canonical order");
    }
    memset(&fb, 0, sizeof fb);
    {
        bmi270_ctx_t c = {&bus, blob, sizeof blob, 32};
        fb.regs[BMI270_CHIP_ID] = BMI270_CHIP_ID_VALUE;
        CHECK(bmi270_driver.init(&c) == -1, "init fails when the config does not load");
        CHECK(fb.init_data_bytes == sizeof blob, "whole config blob written: %u", fb.init_data_bytes);
        fb.regs[BMI270_INTERNAL_STATUS] = 0x01;
        CHECK(bmi270_driver.init(&c) == 0 && fb.regs[BMI270_PWR_CTRL] == 0x0E, "init");
        CHECK(bmi270_driver.configure(&c, 100, 8, 2000, &sc) == FB_STATUS_OK && fb.regs[BMI270_ACC_CONF] == 0xA8 &&
                  fb.regs[BMI270_ACC_RANGE] == 2 && fb.regs[BMI270_GYR_CONF] == 0xE8 && fb.regs[BMI270_GYR_RANGE] == 0,
              "configure 100 Hz 8 g 2000 dps");
        CHECK(sc.acc_scale > 0.002394f && sc.acc_scale < 0.002395f, "acc scale 9.80665/4096");
        c.config = NULL;
        CHECK(bmi270_driver.init(&c) == -1, "no config blob: refused");
        fb.regs[0x0C] = 0x10; fb.regs[0x12] = 0x20;
        CHECK(bmi270_driver.read(&c, s) == 0 && s[0] == 0x10 && s[3] == 0x20, "read");
    }
}

/* Random and mutated inputs through the decoders under ASan/UBSan: no crash, no
 * out-of-bounds read, and every decoded packet's pointers stay inside the buffer. */
static uint32_t rng_state = 12345;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static void test_fuzz(void)
{
    static uint8_t in[400], dec[400];
    unsigned iter, ok = 0;
    for (iter = 0; iter < 200000; iter++) {
        size_t n, m, k;
        fb_packet_t p;
        uint8_t *heap;
        if (iter & 1) { /* mutate a valid vector, fixing the CRC half of the time */
            const vec_packet_t *v = &VEC_PACKETS[rnd() % N_VEC_PACKETS];
            n = v->len > sizeof in ? sizeof in : v->len;
            if (n)
                memcpy(in, v->bytes, n);
            for (k = 0; k < 1 + rnd() % 3 && n; k++)
                in[rnd() % n] ^= (uint8_t)(1u << (rnd() % 8));
            if (n > 2 && (rnd() & 1)) {
                if (rnd() % 4 == 0)
                    n = 2 + rnd() % (n - 1);
                fb_put_u16(in + n - 2, fb_crc16(in, n - 2, FB_CRC_INIT));
            }
        } else {
            n = rnd() % 80;
            for (k = 0; k < n; k++)
                in[k] = (uint8_t)rnd();
            if (n > 4 && (rnd() & 1)) {
                in[0] = FB_MAGIC0; in[1] = FB_MAGIC1; in[2] = 1;
                fb_put_u16(in + n - 2, fb_crc16(in, n - 2, FB_CRC_INIT));
            }
        }
        heap = (uint8_t *)malloc(n ? n : 1); /* exact-size copy: ASan catches any over-read */
        memcpy(heap, in, n);
        if (fb_decode(heap, n, &p) == FB_OK) {
            ok++;
            if (p.type == FB_TYPE_DATA) {
                CHECK(p.u.data.samples + 2u * p.u.data.n_samples * p.u.data.n_channels <= heap + n, "in bounds");
                (void)fb_data_sample(&p.u.data, p.u.data.n_samples - 1u, p.u.data.n_channels - 1u);
            }
        }
        m = 0;
        (void)fb_cobs_decode(heap, n, dec, sizeof dec, &m);
        free(heap);
    }
    CHECK(ok > 1000, "mutations that still decode: %u", ok);
    printf("fuzz: 200000 inputs, %u decoded\n", ok);
}

int main(void)
{
    test_crc();
    test_packet_vectors();
    test_cobs_vectors();
    test_ring();
    test_sched();
    test_device();
    test_drivers();
    test_fuzz();
    printf("%s: %d checks, %d failures (%u packet vectors, %u COBS vectors)\n", failures ? "FAILED" : "OK", checks,
           failures, (unsigned)N_VEC_PACKETS, (unsigned)N_VEC_COBS);
    return failures ? 1 : 0;
}
