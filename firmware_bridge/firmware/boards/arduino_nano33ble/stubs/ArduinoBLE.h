/* Stand-in declarations, see Arduino.h in this folder. */
#pragma once
#include "Arduino.h"
enum { BLERead = 1, BLEWrite = 2, BLENotify = 4 };
enum BLEDeviceEvent { BLEWritten = 0 };
struct BLEDevice {};
struct BLECharacteristic;
typedef void (*BLECharacteristicEventHandler)(BLEDevice, BLECharacteristic);
struct BLECharacteristic {
    BLECharacteristic(const char *uuid, uint8_t properties, int value_size);
    bool subscribed();
    int writeValue(const uint8_t *value, int length);
    const uint8_t *value() const;
    int valueLength() const;
    void setEventHandler(int event, BLECharacteristicEventHandler handler);
};
struct BLEService {
    explicit BLEService(const char *uuid);
    void addCharacteristic(BLECharacteristic &);
};
struct BLELocalDevice {
    int begin();
    void setLocalName(const char *);
    void setAdvertisedService(const BLEService &);
    void addService(BLEService &);
    int advertise();
    bool connected();
    void poll();
};
extern BLELocalDevice BLE;
