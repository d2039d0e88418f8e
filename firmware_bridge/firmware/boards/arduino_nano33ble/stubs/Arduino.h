/* Minimal stand-ins for the Arduino APIs the sketch uses, so that host g++ can
 * check the sketch against the core's C API (make arduino-syntax). They only
 * declare what the sketch calls, as the Arduino documentation describes it; they
 * say nothing about whether the sketch runs on a board. */
#pragma once
#include <stddef.h>
#include <stdint.h>
unsigned long micros(void);
void delay(unsigned long ms);
struct SerialStub {
    void begin(unsigned long);
    explicit operator bool() const;
    size_t write(const uint8_t *, size_t);
    int available();
    int read();
};
extern SerialStub Serial;
