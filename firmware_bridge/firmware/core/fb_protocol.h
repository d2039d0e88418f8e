/* imuedge wire protocol v1.0: constants, CRC-16/CCITT-FALSE, COBS, packet
 * encode/decode. No allocation, no hardware. See firmware_bridge/PROTOCOL.md. */
#ifndef FB_PROTOCOL_H
#define FB_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#define FB_MAGIC0 0x49u /* 'I' */
#define FB_MAGIC1 0x45u /* 'E' */
#define FB_VERSION_MAJOR 1u
#define FB_VERSION_MINOR 0u
#define FB_COMMON_HEADER_LEN 10u
#define FB_DATA_HEADER_LEN 32u
#define FB_CRC_LEN 2u
#define FB_MIN_PACKET_LEN (FB_COMMON_HEADER_LEN + FB_CRC_LEN)
#define FB_NUM_CHANNELS 6u
#define FB_CHANNEL_MASK_ALL 0x3Fu
#define FB_MAX_SAMPLES 255u
#define FB_ACK_PAYLOAD_LEN 8u
#define FB_INFO_FIXED_LEN 20u
#define FB_INFO_NAME_MAX 32u
#define FB_DATA_PACKET_LEN(n, nch) (FB_DATA_HEADER_LEN + 2u * (n) * (nch) + FB_CRC_LEN)
#define FB_COBS_MAX(n) ((n) + (n) / 254u + 1u)

enum fb_type { FB_TYPE_DATA = 1, FB_TYPE_COMMAND = 2, FB_TYPE_ACK = 3, FB_TYPE_DEVICE_INFO = 4 };
enum fb_cmd {
    FB_CMD_START = 1, FB_CMD_STOP = 2, FB_CMD_SET_RATE = 3, FB_CMD_SET_RANGES = 4,
    FB_CMD_GET_INFO = 5, FB_CMD_SET_CHANNELS = 6
};
enum fb_status {
    FB_STATUS_OK = 0, FB_STATUS_UNKNOWN_COMMAND = 1, FB_STATUS_BAD_ARGUMENT = 2, FB_STATUS_BAD_STATE = 3,
    FB_STATUS_UNSUPPORTED = 4, FB_STATUS_BAD_PACKET = 5
};
enum fb_flags { FB_FLAG_OVERFLOW = 0x01, FB_FLAG_CLIPPED = 0x02, FB_FLAG_STARTED = 0x04, FB_FLAG_CONFIG_CHANGED = 0x08 };

/* Decode outcomes; the names match the Python ProtocolError subclasses. */
typedef enum {
    FB_OK = 0, FB_ERR_TRUNCATED, FB_ERR_MAGIC, FB_ERR_CRC, FB_ERR_VERSION, FB_ERR_LENGTH,
    FB_ERR_UNKNOWN_TYPE, FB_ERR_FIELD, FB_ERR_COBS, FB_ERR_OVERSIZE, FB_ERR_BUFFER
} fb_err_t;

const char *fb_err_name(fb_err_t e);

/* CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, not reflected, xorout 0. */
#define FB_CRC_INIT 0xFFFFu
uint16_t fb_crc16(const uint8_t *data, size_t n, uint16_t crc);

/* COBS: returns the encoded length (>= 1), or 0 if cap is too small. */
size_t fb_cobs_encode(const uint8_t *in, size_t n, uint8_t *out, size_t cap);
/* COBS decode of one frame without its 0x00 delimiter. */
fb_err_t fb_cobs_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_len);

uint8_t fb_popcount6(uint8_t mask);

typedef struct {
    uint32_t timestamp_us, sample_period_us;
    float acc_scale, gyro_scale;
    uint16_t overflow_count;
    uint8_t n_samples, channel_mask, flags, n_channels;
    const uint8_t *samples; /* n_samples * n_channels little-endian int16, interleaved */
} fb_data_t;

typedef struct {
    uint8_t command;
    uint16_t rate_hz;
    uint8_t acc_range_g;
    uint16_t gyro_range_dps;
    uint8_t channel_mask;
} fb_command_t;

typedef struct {
    uint8_t command, status;
    uint16_t acked_seq;
    uint32_t value;
} fb_ack_t;

typedef struct {
    uint8_t supported_mask, active_mask, acc_range_g, streaming;
    uint16_t gyro_range_dps;
    uint32_t sample_period_us;
    float acc_scale, gyro_scale;
    uint8_t max_samples_per_packet, name_len;
    const char *name; /* not NUL-terminated when decoded */
} fb_info_t;

typedef struct {
    uint8_t major, minor, type, header_len;
    uint16_t seq, payload_len;
    union {
        fb_data_t data;
        fb_command_t cmd;
        fb_ack_t ack;
        fb_info_t info;
    } u;
} fb_packet_t;

/* Decode one packet (no COBS). Pointers in *p point into buf. */
fb_err_t fb_decode(const uint8_t *buf, size_t n, fb_packet_t *p);
int16_t fb_data_sample(const fb_data_t *d, unsigned sample, unsigned channel_index);

/* Incremental data-packet writer: begin, add full 6-channel samples (the mask
 * selects which are written), finish (sets count, length, CRC). */
typedef struct {
    uint8_t *buf;
    size_t cap, len;
    uint8_t mask, n;
} fb_data_writer_t;

int fb_data_begin(fb_data_writer_t *w, uint8_t *buf, size_t cap, uint16_t seq, uint32_t timestamp_us,
                  uint32_t sample_period_us, float acc_scale, float gyro_scale, uint16_t overflow_count,
                  uint8_t flags, uint8_t channel_mask);
int fb_data_add(fb_data_writer_t *w, const int16_t sample[FB_NUM_CHANNELS]);
size_t fb_data_finish(fb_data_writer_t *w);

size_t fb_encode_command(uint8_t *out, size_t cap, uint16_t seq, const fb_command_t *c);
size_t fb_encode_ack(uint8_t *out, size_t cap, uint16_t seq, const fb_ack_t *a);
size_t fb_encode_info(uint8_t *out, size_t cap, uint16_t seq, const fb_info_t *info);

/* Little-endian helpers. */
void fb_put_u16(uint8_t *p, uint16_t v);
void fb_put_u32(uint8_t *p, uint32_t v);
void fb_put_f32(uint8_t *p, float v);
uint16_t fb_get_u16(const uint8_t *p);
uint32_t fb_get_u32(const uint8_t *p);
float fb_get_f32(const uint8_t *p);

#endif
