/* The driver interface every IMU source implements (replay, LSM6DSOX, BMI270).
 * Samples are int16 counts in canonical channel order
 * acc_x acc_y acc_z gyro_x gyro_y gyro_z; count * scale = m/s^2 or rad/s. */
#ifndef IMU_DRIVER_H
#define IMU_DRIVER_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    float acc_scale;  /* m/s^2 per count */
    float gyro_scale; /* rad/s per count */
} imu_scales_t;

typedef struct imu_driver {
    const char *name;
    uint8_t channel_mask; /* channels the part provides */
    /* 0 on success */
    int (*init)(void *ctx);
    /* Apply rate and full-scale ranges; returns an fb_status (FB_STATUS_OK,
     * FB_STATUS_UNSUPPORTED...) and the resulting scales. */
    uint8_t (*configure)(void *ctx, uint16_t rate_hz, uint8_t acc_range_g, uint16_t gyro_range_dps,
                         imu_scales_t *scales);
    /* One sample, all six channels; 0 on success. Called from the sample tick. */
    int (*read)(void *ctx, int16_t out[6]);
} imu_driver_t;

/* Register access to a sensor over I2C or SPI, provided by the board. */
typedef struct imu_bus {
    int (*read)(void *bus_ctx, uint8_t reg, uint8_t *buf, size_t n);
    int (*write)(void *bus_ctx, uint8_t reg, const uint8_t *buf, size_t n);
    void (*delay_us)(void *bus_ctx, uint32_t us);
    void *bus_ctx;
} imu_bus_t;

#endif
