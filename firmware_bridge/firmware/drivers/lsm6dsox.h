/* ST LSM6DSOX accelerometer + gyroscope, register level, over imu_bus_t
 * (I2C address 0x6A/0x6B, or SPI mode 3 where the bus sets bit 7 for reads).
 * Written from the datasheet (DS12814); not yet run on hardware. */
#ifndef LSM6DSOX_H
#define LSM6DSOX_H

#include "imu_driver.h"

#define LSM6DSOX_WHO_AM_I 0x0Fu
#define LSM6DSOX_WHO_AM_I_VALUE 0x6Cu
#define LSM6DSOX_CTRL1_XL 0x10u
#define LSM6DSOX_CTRL2_G 0x11u
#define LSM6DSOX_CTRL3_C 0x12u
#define LSM6DSOX_STATUS_REG 0x1Eu
#define LSM6DSOX_OUTX_L_G 0x22u /* gyro x,y,z then accel x,y,z: 12 bytes */

typedef struct {
    const imu_bus_t *bus;
} lsm6dsox_ctx_t;

extern const imu_driver_t lsm6dsox_driver;

/* Exposed for tests: ODR field (bits 7:4 of CTRL1_XL/CTRL2_G) for a rate, 0 if none >= rate. */
uint8_t lsm6dsox_odr_bits(uint16_t rate_hz);

#endif
