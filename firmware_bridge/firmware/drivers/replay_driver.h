/* Replay driver: plays int16 samples compiled into flash (a real recording),
 * one per sample tick, looping at the end. Its ranges are those the recording
 * was quantized at; SET_RANGES to anything else is answered UNSUPPORTED. */
#ifndef REPLAY_DRIVER_H
#define REPLAY_DRIVER_H

#include "imu_driver.h"

typedef struct {
    const int16_t (*samples)[6]; /* in FB_ROM */
    uint16_t n, pos;
    uint8_t acc_range_g;
    uint16_t gyro_range_dps;
    float acc_scale, gyro_scale;
    volatile uint32_t played; /* samples read since init */
} replay_ctx_t;

extern const imu_driver_t replay_driver;

#endif
