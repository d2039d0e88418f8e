/* imuedge firmware for the Arduino Nano 33 BLE Sense Rev2 (nRF52840, BMI270 IMU):
 * a thin shell around the tested C core (firmware_bridge/firmware/core).
 *
 * NOT COMPILED OR RUN ON HARDWARE BY THE PROJECT: the Arduino Mbed core is not
 * installed where the tests run. Only the core it wraps is tested (host tests,
 * Cortex-M3 in QEMU, AVR in simavr). See firmware_bridge/README.md, "Real hardware".
 *
 * Build: copy the core next to this sketch (Arduino compiles src/ recursively):
 *   mkdir -p src/imuedge && cp ../../core/fb_* ../../core/imu_driver.h src/imuedge/
 * then build with the "Arduino Mbed OS Nano Boards" core and the libraries
 * ArduinoBLE and Arduino_BMI270_BMM150 (Library Manager), e.g.
 *   arduino-cli compile -b arduino:mbed_nano:nano33ble --upload -p /dev/ttyACM0 .
 *
 * Transports (both active):
 *   USB serial  COBS frames (PROTOCOL.md section 5)        -> stream profile "imuedge"
 *   BLE         imuedge IMU service (PROTOCOL.md 6.1): one packet per notification,
 *               commands written to the control characteristic -> profile "imuedge-ble"
 *
 * IMU access goes through the Arduino_BMI270_BMM150 library (it uploads Bosch's
 * BMI270 configuration blob, which this project does not redistribute); its output
 * (g, deg/s, at the library's fixed 100 Hz ODR) is turned back into int16 counts at
 * fixed scales, so the core sees an ordinary imu_driver_t. Boards without that
 * library use drivers/bmi270.c or drivers/lsm6dsox.c with an imu_bus_t over Wire.
 */
#include <ArduinoBLE.h>
#include <Arduino_BMI270_BMM150.h>

extern "C" {
#include "src/imuedge/fb_device.h"
#include "src/imuedge/fb_protocol.h"
}

#define TICK_HZ 1000UL         /* fb_device_tick rate, driven from loop() by micros() */
#define SAMPLES_PER_PACKET 4   /* 32 + 4*12 + 2 = 82-byte DATA packets: needs ATT MTU >= 85 */
#define ACC_RANGE_G 4          /* the library's accelerometer range */
#define GYRO_RANGE_DPS 2000    /* the library's gyroscope range */

static const float G = 9.80665f;
static const float DEG = 0.017453292519943295f;

/* ---- imu_driver_t over the Arduino library ---------------------------------------------- */
static imu_scales_t lib_scales;

static int lib_init(void *ctx)
{
    (void)ctx;
    return IMU.begin() ? 0 : -1;
}

static uint8_t lib_configure(void *ctx, uint16_t rate_hz, uint8_t acc_range_g, uint16_t gyro_range_dps,
                             imu_scales_t *scales)
{
    (void)ctx;
    /* The library runs the sensor at 100 Hz with fixed ranges: accept rates up to that
     * (the core's scheduler decimates) and only the library's ranges. */
    if (rate_hz == 0 || rate_hz > 100)
        return FB_STATUS_UNSUPPORTED;
    if ((acc_range_g && acc_range_g != ACC_RANGE_G) || (gyro_range_dps && gyro_range_dps != GYRO_RANGE_DPS))
        return FB_STATUS_UNSUPPORTED;
    lib_scales.acc_scale = ACC_RANGE_G * G / 32768.0f;
    lib_scales.gyro_scale = GYRO_RANGE_DPS * DEG / 32768.0f;
    *scales = lib_scales;
    return FB_STATUS_OK;
}

static int16_t to_counts(float v, float scale)
{
    float c = v / scale;
    if (c > 32767.0f)
        return 32767;
    if (c < -32768.0f)
        return -32768;
    return (int16_t)(c < 0 ? c - 0.5f : c + 0.5f);
}

static float last[6];

static int lib_read(void *ctx, int16_t out[6])
{
    (void)ctx;
    if (IMU.accelerationAvailable())
        IMU.readAcceleration(last[0], last[1], last[2]); /* g */
    if (IMU.gyroscopeAvailable())
        IMU.readGyroscope(last[3], last[4], last[5]); /* deg/s */
    for (int i = 0; i < 3; i++) {
        out[i] = to_counts(last[i] * G, lib_scales.acc_scale);
        out[3 + i] = to_counts(last[3 + i] * DEG, lib_scales.gyro_scale);
    }
    return 0;
}

static const imu_driver_t arduino_bmi270 = {"arduino-bmi270", FB_CHANNEL_MASK_ALL, lib_init, lib_configure,
                                            lib_read};

/* ---- BLE: imuedge IMU service (UUIDs from PROTOCOL.md 6.1 / ble.py) ---------------------- */
BLEService imuService("3af90001-5f72-4bec-9a33-c84ef5b715e1");
BLECharacteristic dataChar("3af90002-5f72-4bec-9a33-c84ef5b715e1", BLENotify, FB_TX_PACKET_MAX);
BLECharacteristic controlChar("3af90003-5f72-4bec-9a33-c84ef5b715e1", BLEWrite, 64);

static fb_device_t dev;
static fb_sample_t ring[64];
static unsigned long next_tick;

/* The core hands over whole COBS frames (and one lone 0x00 at boot). USB serial gets
 * them as they are; BLE gets the decoded packet, one per notification. */
static void write_frame(const uint8_t *data, size_t n, void *user)
{
    (void)user;
    if (Serial)
        Serial.write(data, n);
    if (n < 2 || !BLE.connected() || !dataChar.subscribed())
        return;
    static uint8_t pkt[FB_TX_PACKET_MAX];
    size_t len = 0;
    if (fb_cobs_decode(data, n - 1, pkt, sizeof pkt, &len) == FB_OK)
        dataChar.writeValue(pkt, (int)len);
}

/* A command written over BLE is a bare packet: frame it and feed the core's byte parser. */
static void on_control_written(BLEDevice central, BLECharacteristic chr)
{
    (void)central;
    uint8_t frame[FB_COBS_MAX(64) + 1];
    size_t n = fb_cobs_encode(chr.value(), (size_t)chr.valueLength(), frame, sizeof frame - 1);
    for (size_t i = 0; i < n; i++)
        fb_device_rx_byte(&dev, frame[i]);
    fb_device_rx_byte(&dev, 0x00);
}

void setup()
{
    Serial.begin(115200);
    if (BLE.begin()) {
        BLE.setLocalName("imuedge-nano33");
        BLE.setAdvertisedService(imuService);
        imuService.addCharacteristic(dataChar);
        imuService.addCharacteristic(controlChar);
        BLE.addService(imuService);
        controlChar.setEventHandler(BLEWritten, on_control_written);
        BLE.advertise();
    }
    static const fb_device_config_t cfg = {TICK_HZ, 50, ACC_RANGE_G, GYRO_RANGE_DPS, SAMPLES_PER_PACKET,
                                           "imuedge-nano33ble"};
    while (fb_device_init(&dev, &arduino_bmi270, 0, ring, 64, &cfg, write_frame, 0) != 0)
        delay(1000); /* no IMU: retry (the LED stays off) */
    next_tick = micros();
}

void loop()
{
    /* Sample clock: catch up on every tick that is due. The device clock counts ticks,
     * so timestamps stay exact; a late loop only delays the reads by < 1 ms each. */
    while ((long)(micros() - next_tick) >= 0) {
        fb_device_tick(&dev);
        next_tick += 1000000UL / TICK_HZ;
    }
    while (Serial && Serial.available() > 0)
        fb_device_rx_byte(&dev, (uint8_t)Serial.read());
    BLE.poll();
    fb_device_poll(&dev);
}
