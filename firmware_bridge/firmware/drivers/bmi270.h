/* Bosch BMI270 accelerometer + gyroscope, register level, over imu_bus_t.
 * The BMI270 needs Bosch's ~8 kB configuration blob written to INIT_DATA at
 * start-up; it is not redistributed here, so the board passes it in
 * (bmi270_ctx_t.config, from Bosch's BMI270 SensorAPI). With no blob, init
 * fails cleanly. Written from the datasheet; not yet run on hardware. */
#ifndef BMI270_H
#define BMI270_H

#include "imu_driver.h"

#define BMI270_CHIP_ID 0x00u
#define BMI270_CHIP_ID_VALUE 0x24u
#define BMI270_DATA_8 0x0Cu /* ACC_X_LSB; accel x,y,z then gyro x,y,z: 12 bytes */
#define BMI270_INTERNAL_STATUS 0x21u
#define BMI270_ACC_CONF 0x40u
#define BMI270_ACC_RANGE 0x41u
#define BMI270_GYR_CONF 0x42u
#define BMI270_GYR_RANGE 0x43u
#define BMI270_INIT_CTRL 0x59u
#define BMI270_INIT_ADDR_0 0x5Bu
#define BMI270_INIT_DATA 0x5Eu
#define BMI270_PWR_CONF 0x7Cu
#define BMI270_PWR_CTRL 0x7Du
#define BMI270_CMD 0x7Eu

typedef struct {
    const imu_bus_t *bus;
    const uint8_t *config; /* Bosch config blob */
    uint16_t config_len;
    uint16_t burst; /* bytes per INIT_DATA write (even), e.g. 32 */
} bmi270_ctx_t;

extern const imu_driver_t bmi270_driver;

/* Exposed for tests: ODR code (ACC_CONF/GYR_CONF bits 3:0) for a rate, 0 if none. */
uint8_t bmi270_odr_bits(uint16_t rate_hz);

#endif
