#include "lsm6dsox.h"

#include "fb_protocol.h"

#define G_MS2 9.80665f
#define DEG2RAD 0.017453292519943295f

static int wr(const imu_bus_t *b, uint8_t reg, uint8_t v)
{
    return b->write(b->bus_ctx, reg, &v, 1);
}

uint8_t lsm6dsox_odr_bits(uint16_t rate_hz)
{
    /* ODR codes 1..10: 12.5, 26, 52, 104, 208, 416, 833, 1666, 3332, 6667 Hz; pick the first >= rate */
    static const uint16_t odr_x2[] = {25, 52, 104, 208, 416, 832, 1666, 3332, 6664, 13334};
    uint8_t i;
    for (i = 0; i < 10; i++)
        if ((uint32_t)rate_hz * 2u <= odr_x2[i])
            return (uint8_t)(i + 1);
    return 0;
}

static int lsm_init(void *ctx)
{
    const imu_bus_t *b = ((lsm6dsox_ctx_t *)ctx)->bus;
    uint8_t id = 0;
    if (b->read(b->bus_ctx, LSM6DSOX_WHO_AM_I, &id, 1) || id != LSM6DSOX_WHO_AM_I_VALUE)
        return -1;
    if (wr(b, LSM6DSOX_CTRL3_C, 0x01)) /* SW_RESET */
        return -1;
    b->delay_us(b->bus_ctx, 100);
    return wr(b, LSM6DSOX_CTRL3_C, 0x44); /* BDU | IF_INC */
}

static uint8_t lsm_configure(void *ctx, uint16_t rate_hz, uint8_t acc_range_g, uint16_t gyro_range_dps,
                             imu_scales_t *scales)
{
    const imu_bus_t *b = ((lsm6dsox_ctx_t *)ctx)->bus;
    uint8_t odr = lsm6dsox_odr_bits(rate_hz), fs_xl, fs_g;
    float mg_per_lsb, mdps_per_lsb;
    if (!odr)
        return FB_STATUS_BAD_ARGUMENT;
    switch (acc_range_g) { /* FS_XL bits 3:2: 00 2g, 10 4g, 11 8g, 01 16g */
    case 2: fs_xl = 0u << 2; mg_per_lsb = 0.061f; break;
    case 4: fs_xl = 2u << 2; mg_per_lsb = 0.122f; break;
    case 8: fs_xl = 3u << 2; mg_per_lsb = 0.244f; break;
    case 16: fs_xl = 1u << 2; mg_per_lsb = 0.488f; break;
    default: return FB_STATUS_UNSUPPORTED;
    }
    switch (gyro_range_dps) { /* FS_G bits 3:2, FS_125 bit 1 */
    case 125: fs_g = 0x02; mdps_per_lsb = 4.375f; break;
    case 250: fs_g = 0u << 2; mdps_per_lsb = 8.75f; break;
    case 500: fs_g = 1u << 2; mdps_per_lsb = 17.5f; break;
    case 1000: fs_g = 2u << 2; mdps_per_lsb = 35.0f; break;
    case 2000: fs_g = 3u << 2; mdps_per_lsb = 70.0f; break;
    default: return FB_STATUS_UNSUPPORTED;
    }
    if (wr(b, LSM6DSOX_CTRL1_XL, (uint8_t)(odr << 4 | fs_xl)) || wr(b, LSM6DSOX_CTRL2_G, (uint8_t)(odr << 4 | fs_g)))
        return FB_STATUS_BAD_STATE;
    scales->acc_scale = mg_per_lsb * 1e-3f * G_MS2;
    scales->gyro_scale = mdps_per_lsb * 1e-3f * DEG2RAD;
    return FB_STATUS_OK;
}

static int lsm_read(void *ctx, int16_t out[6])
{
    const imu_bus_t *b = ((lsm6dsox_ctx_t *)ctx)->bus;
    uint8_t raw[12], i;
    if (b->read(b->bus_ctx, LSM6DSOX_OUTX_L_G, raw, sizeof raw))
        return -1;
    for (i = 0; i < 3; i++) {
        out[i] = (int16_t)fb_get_u16(raw + 6 + 2 * i); /* accel after gyro in the register map */
        out[3 + i] = (int16_t)fb_get_u16(raw + 2 * i);
    }
    return 0;
}

const imu_driver_t lsm6dsox_driver = {"lsm6dsox", FB_CHANNEL_MASK_ALL, lsm_init, lsm_configure, lsm_read};
