/* imuedge firmware core on an AVR ATmega328P (2 KiB RAM, 32 KiB flash), run
 * under simavr to prove the core is portable. Timer1 (1 kHz compare interrupt)
 * is the sample clock; USART0 carries the protocol. Because simavr shows the
 * UART as text, this demo build writes each byte as two hex digits and a
 * newline after every 0x00 delimiter (a real board writes raw bytes).
 * It plays the first 200 samples of the HAPT recording: the commands
 * SET_RATE 200 and START arrive through the normal command parser, and when the
 * whole recording has been played a STOP; then "DONE <samples>" and it halts. */
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>

#include "fb_device.h"
#include "hapt_replay_small.h"
#include "replay_driver.h"

static fb_device_t dev;
static fb_sample_t ring[16];
static replay_ctx_t replay = {hapt_replay, HAPT_REPLAY_N, 0, HAPT_REPLAY_ACC_RANGE_G, HAPT_REPLAY_GYRO_RANGE_DPS,
                              HAPT_REPLAY_ACC_SCALE, HAPT_REPLAY_GYRO_SCALE, 0};

static void putc_uart(uint8_t c)
{
    while (!(UCSR0A & (1 << UDRE0)))
        ;
    UDR0 = c;
}

static void write_hex(const uint8_t *d, size_t n, void *user)
{
    static const char hex[] = "0123456789abcdef";
    (void)user;
    while (n--) {
        uint8_t b = *d++;
        putc_uart((uint8_t)hex[b >> 4]);
        putc_uart((uint8_t)hex[b & 15]);
        if (b == 0)
            putc_uart('\n');
    }
}

static void command(uint16_t seq, uint8_t cmd, uint16_t rate_hz)
{
    fb_command_t c = {0, 0, 0, 0, 0};
    uint8_t raw[16], enc[20];
    size_t n, i;
    c.command = cmd;
    c.rate_hz = rate_hz;
    n = fb_cobs_encode(raw, fb_encode_command(raw, sizeof raw, seq, &c), enc, sizeof enc);
    for (i = 0; i < n; i++)
        fb_device_rx_byte(&dev, enc[i]);
    fb_device_rx_byte(&dev, 0);
}

ISR(TIMER1_COMPA_vect)
{
    fb_device_tick(&dev);
}

int main(void)
{
    static const fb_device_config_t cfg = {1000, HAPT_REPLAY_RATE_HZ, HAPT_REPLAY_ACC_RANGE_G,
                                           HAPT_REPLAY_GYRO_RANGE_DPS, 4, "imuedge-replay-avr"};
    uint32_t played;
    uint8_t i;
    char num[11];
    UCSR0A = 1 << U2X0;
    UBRR0 = 1; /* 1 Mbaud at 16 MHz */
    UCSR0B = (1 << TXEN0) | (1 << RXEN0);
    UCSR0C = (1 << UCSZ01) | (1 << UCSZ00);
    if (fb_device_init(&dev, &replay_driver, &replay, ring, 16, &cfg, write_hex, 0) != 0)
        for (;;)
            ;
    TCCR1A = 0;
    TCCR1B = (1 << WGM12) | (1 << CS11) | (1 << CS10); /* CTC, clk/64 */
    OCR1A = F_CPU / 64 / 1000 - 1;
    TIMSK1 = 1 << OCIE1A;
    sei();
    command(1, FB_CMD_SET_RATE, 200);
    command(2, FB_CMD_START, 0);
    while (replay.played < HAPT_REPLAY_N)
        fb_device_poll(&dev);
    command(3, FB_CMD_STOP, 0);
    cli();
    played = replay.played;
    i = sizeof num - 1;
    num[i] = 0;
    do {
        num[--i] = (char)('0' + played % 10);
        played /= 10;
    } while (played && i);
    putc_uart('D'); putc_uart('O'); putc_uart('N'); putc_uart('E'); putc_uart(' ');
    while (num[i])
        putc_uart((uint8_t)num[i++]);
    putc_uart('\n');
    while (!(UCSR0A & (1 << TXC0)))
        ;
    set_sleep_mode(SLEEP_MODE_PWR_DOWN);
    sleep_enable();
    sleep_cpu(); /* interrupts off: simavr ends the simulation here */
    for (;;)
        ;
}
