#include "bmi270.h"

#include "fb_protocol.h"

#define G_MS2 9.80665f
#define DEG2RAD 0.017453292519943295f

static int wr(const imu_bus_t *b, uint8_t reg, uint8_t v)
{
    return b->write(b->bus_ctx, reg, &v, 1);
}

uint8_t bmi270_odr_bits(uint16_t rate_hz)
{
    /* codes 5..12: 12.5, 25, 50, 100, 200, 400, 800, 1600 Hz; pick the first >= rate */
    uint8_t code = 5;
    uint32_t odr_x2 = 25;
    while (code <= 12) {
        if ((uint32_t)rate_hz * 2u <= odr_x2)
            return code;
        code++;
        odr_x2 *= 2u;
    }
    return 0;
}

static int bmi_init(void *ctx)
{
    bmi270_ctx_t *c = (bmi270_ctx_t *)ctx;
    const imu_bus_t *b = c->bus;
    uint8_t v = 0;
    uint16_t off;
    if (b->read(b->bus_ctx, BMI270_CHIP_ID, &v, 1) || v != BMI270_CHIP_ID_VALUE)
        return -1;
    if (!c->config || !c->config_len || !c->burst || (c->burst & 1u))
        return -1;
    if (wr(b, BMI270_CMD, 0xB6)) /* soft reset */
        return -1;
    b->delay_us(b->bus_ctx, 2000);
    if (wr(b, BMI270_PWR_CONF, 0x00)) /* advanced power save off while loading */
        return -1;
    b->delay_us(b->bus_ctx, 450);
    if (wr(b, BMI270_INIT_CTRL, 0x00))
        return -1;
    for (off = 0; off < c->config_len; off = (uint16_t)(off + c->burst)) {
        uint16_t n = (uint16_t)(c->config_len - off < c->burst ? c->config_len - off : c->burst);
        uint8_t addr[2];
        addr[0] = (uint8_t)((off / 2u) & 0x0Fu); /* INIT_ADDR is in 16-bit words */
        addr[1] = (uint8_t)((off / 2u) >> 4);
        if (b->write(b->bus_ctx, BMI270_INIT_ADDR_0, addr, 2) || b->write(b->bus_ctx, BMI270_INIT_DATA, c->config + off, n))
            return -1;
    }
    if (wr(b, BMI270_INIT_CTRL, 0x01))
        return -1;
    b->delay_us(b->bus_ctx, 20000);
    if (b->read(b->bus_ctx, BMI270_INTERNAL_STATUS, &v, 1) || (v & 0x0Fu) != 0x01u)
        return -1; /* message field: 0x01 = init OK */
    return wr(b, BMI270_PWR_CTRL, 0x0E); /* acc, gyr, temp on */
}

static uint8_t bmi_configure(void *ctx, uint16_t rate_hz, uint8_t acc_range_g, uint16_t gyro_range_dps,
                             imu_scales_t *scales)
{
    const imu_bus_t *b = ((bmi270_ctx_t *)ctx)->bus;
    uint8_t odr = bmi270_odr_bits(rate_hz), acc_r, gyr_r;
    float lsb_per_g, lsb_per_dps;
    if (!odr)
        return FB_STATUS_BAD_ARGUMENT;
    switch (acc_range_g) {
    case 2: acc_r = 0; lsb_per_g = 16384.0f; break;
    case 4: acc_r = 1; lsb_per_g = 8192.0f; break;
    case 8: acc_r = 2; lsb_per_g = 4096.0f; break;
    case 16: acc_r = 3; lsb_per_g = 2048.0f; break;
    default: return FB_STATUS_UNSUPPORTED;
    }
    switch (gyro_range_dps) {
    case 2000: gyr_r = 0; lsb_per_dps = 16.384f; break;
    case 1000: gyr_r = 1; lsb_per_dps = 32.768f; break;
    case 500: gyr_r = 2; lsb_per_dps = 65.536f; break;
    case 250: gyr_r = 3; lsb_per_dps = 131.072f; break;
    case 125: gyr_r = 4; lsb_per_dps = 262.144f; break;
    default: return FB_STATUS_UNSUPPORTED;
    }
    /* acc: filter_perf=1, bwp=normal(2); gyr: filter_perf=1, noise_perf=1, bwp=normal(2) */
    if (wr(b, BMI270_ACC_CONF, (uint8_t)(0x80u | 0x20u | odr)) || wr(b, BMI270_ACC_RANGE, acc_r) ||
        wr(b, BMI270_GYR_CONF, (uint8_t)(0x80u | 0x40u | 0x20u | odr)) || wr(b, BMI270_GYR_RANGE, gyr_r))
        return FB_STATUS_BAD_STATE;
    scales->acc_scale = G_MS2 / lsb_per_g;
    scales->gyro_scale = DEG2RAD / lsb_per_dps;
    return FB_STATUS_OK;
}

static int bmi_read(void *ctx, int16_t out[6])
{
    const imu_bus_t *b = ((bmi270_ctx_t *)ctx)->bus;
    uint8_t raw[12], i;
    if (b->read(b->bus_ctx, BMI270_DATA_8, raw, sizeof raw))
        return -1;
    for (i = 0; i < 6; i++)
        out[i] = (int16_t)fb_get_u16(raw + 2 * i);
    return 0;
}

const imu_driver_t bmi270_driver = {"bmi270", FB_CHANNEL_MASK_ALL, bmi_init, bmi_configure, bmi_read};
