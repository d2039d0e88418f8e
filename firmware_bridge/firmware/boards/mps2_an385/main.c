/* imuedge firmware for QEMU mps2-an385 (Cortex-M3): the replay driver plays a
 * real HAPT recording at the sample clock (SysTick, 1 kHz tick), data packets
 * go out COBS-framed on CMSDK UART0, commands come in on UART0 RX.
 * Boots stopped and announces itself with a DEVICE_INFO packet. */
#include <stdint.h>

#include "fb_device.h"
#include "hapt_replay.h"
#include "replay_driver.h"

#define SYSCLK_HZ 25000000UL /* QEMU mps2 system clock */
#define TICK_HZ 1000UL

typedef struct {
    volatile uint32_t DATA, STATE, CTRL, INTSTATUS, BAUDDIV;
} cmsdk_uart_t;
#define UART0 ((cmsdk_uart_t *)0x40004000UL)
#define UART_STATE_TXFULL 1u
#define UART_STATE_RXFULL 2u
#define SYST_CSR (*(volatile uint32_t *)0xE000E010UL)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014UL)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018UL)
#define NVIC_ISER0 (*(volatile uint32_t *)0xE000E100UL)

void SysTick_Handler(void);
void UART0_RX_Handler(void);

static fb_device_t dev;
static fb_sample_t ring[64];
static replay_ctx_t replay = {hapt_replay, HAPT_REPLAY_N, 0, HAPT_REPLAY_ACC_RANGE_G, HAPT_REPLAY_GYRO_RANGE_DPS,
                              HAPT_REPLAY_ACC_SCALE, HAPT_REPLAY_GYRO_SCALE, 0};

static void uart_write(const uint8_t *d, size_t n, void *user)
{
    (void)user;
    while (n--) {
        while (UART0->STATE & UART_STATE_TXFULL)
            ;
        UART0->DATA = *d++;
    }
}

void SysTick_Handler(void)
{
    fb_device_tick(&dev);
}

void UART0_RX_Handler(void)
{
    UART0->INTSTATUS = 2u; /* clear; the main loop reads the byte */
}

int main(void)
{
    static const fb_device_config_t cfg = {TICK_HZ, HAPT_REPLAY_RATE_HZ, HAPT_REPLAY_ACC_RANGE_G,
                                           HAPT_REPLAY_GYRO_RANGE_DPS, 10, "imuedge-replay-mps2"};
    UART0->BAUDDIV = 16;
    UART0->CTRL = 1u | 2u | 8u; /* TX, RX, RX interrupt */
    NVIC_ISER0 = 1u;
    if (fb_device_init(&dev, &replay_driver, &replay, ring, 64, &cfg, uart_write, 0) != 0)
        for (;;)
            ;
    SYST_RVR = SYSCLK_HZ / TICK_HZ - 1u;
    SYST_CVR = 0;
    SYST_CSR = 7u; /* processor clock, interrupt, enable */
    for (;;) {
        while (UART0->STATE & UART_STATE_RXFULL)
            fb_device_rx_byte(&dev, (uint8_t)UART0->DATA);
        fb_device_poll(&dev);
        __asm__ volatile("wfi");
    }
}
