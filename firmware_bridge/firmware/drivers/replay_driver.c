#include "replay_driver.h"

#include "fb_port.h"
#include "fb_protocol.h"

static int replay_init(void *ctx)
{
    replay_ctx_t *r = (replay_ctx_t *)ctx;
    r->pos = 0;
    r->played = 0;
    return r->n ? 0 : -1;
}

static uint8_t replay_configure(void *ctx, uint16_t rate_hz, uint8_t acc_range_g, uint16_t gyro_range_dps,
                                imu_scales_t *scales)
{
    replay_ctx_t *r = (replay_ctx_t *)ctx;
    (void)rate_hz; /* any rate: the tick decides when the next recorded sample is played */
    if (acc_range_g != r->acc_range_g || gyro_range_dps != r->gyro_range_dps)
        return FB_STATUS_UNSUPPORTED;
    scales->acc_scale = r->acc_scale;
    scales->gyro_scale = r->gyro_scale;
    return FB_STATUS_OK;
}

static int replay_read(void *ctx, int16_t out[6])
{
    replay_ctx_t *r = (replay_ctx_t *)ctx;
    uint8_t i;
    for (i = 0; i < 6; i++)
        out[i] = (int16_t)FB_ROM_READ_I16(&r->samples[r->pos][i]);
    r->played++;
    if (++r->pos == r->n)
        r->pos = 0;
    return 0;
}

const imu_driver_t replay_driver = {"replay", FB_CHANNEL_MASK_ALL, replay_init, replay_configure, replay_read};
