#include "fb_protocol.h"

#include <string.h>

const char *fb_err_name(fb_err_t e)
{
    switch (e) {
    case FB_OK: return "OK";
    case FB_ERR_TRUNCATED: return "TruncatedError";
    case FB_ERR_MAGIC: return "MagicError";
    case FB_ERR_CRC: return "CRCError";
    case FB_ERR_VERSION: return "VersionError";
    case FB_ERR_LENGTH: return "LengthError";
    case FB_ERR_UNKNOWN_TYPE: return "UnknownTypeError";
    case FB_ERR_FIELD: return "FieldError";
    case FB_ERR_COBS: return "COBSError";
    case FB_ERR_OVERSIZE: return "OversizeError";
    case FB_ERR_BUFFER: return "BufferError";
    }
    return "?";
}

uint16_t fb_crc16(const uint8_t *data, size_t n, uint16_t crc)
{
    while (n--) {
        uint8_t i;
        crc ^= (uint16_t)((uint16_t)*data++ << 8);
        for (i = 0; i < 8; i++)
            crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
    }
    return crc;
}

size_t fb_cobs_encode(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    size_t code_at = 0, o = 1, i;
    uint8_t code = 1;
    if (cap < 1)
        return 0;
    for (i = 0; i < n; i++) {
        if (in[i] == 0) {
            out[code_at] = code;
            if (o >= cap)
                return 0;
            code_at = o++;
            code = 1;
        } else {
            if (o >= cap)
                return 0;
            out[o++] = in[i];
            if (++code == 0xFF) {
                out[code_at] = code;
                if (o >= cap)
                    return 0;
                code_at = o++;
                code = 1;
            }
        }
    }
    out[code_at] = code;
    return o;
}

fb_err_t fb_cobs_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_len)
{
    size_t i = 0, o = 0;
    while (i < n) {
        uint8_t code = in[i];
        size_t j, end;
        if (code == 0)
            return FB_ERR_COBS;
        end = i + code;
        if (end > n)
            return FB_ERR_COBS;
        for (j = i + 1; j < end; j++) {
            if (in[j] == 0)
                return FB_ERR_COBS;
            if (o >= cap)
                return FB_ERR_BUFFER;
            out[o++] = in[j];
        }
        i = end;
        if (code != 0xFF && i < n) {
            if (o >= cap)
                return FB_ERR_BUFFER;
            out[o++] = 0;
        }
    }
    *out_len = o;
    return FB_OK;
}

uint8_t fb_popcount6(uint8_t mask)
{
    uint8_t c = 0;
    while (mask) {
        c = (uint8_t)(c + (mask & 1u));
        mask >>= 1;
    }
    return c;
}

void fb_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void fb_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

void fb_put_f32(uint8_t *p, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4); /* IEEE 754 binary32 on every supported target */
    fb_put_u32(p, u);
}

uint16_t fb_get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}

uint32_t fb_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

float fb_get_f32(const uint8_t *p)
{
    uint32_t u = fb_get_u32(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void put_common(uint8_t *b, uint8_t type, uint8_t header_len, uint16_t seq, uint16_t payload_len)
{
    b[0] = FB_MAGIC0;
    b[1] = FB_MAGIC1;
    b[2] = FB_VERSION_MAJOR;
    b[3] = FB_VERSION_MINOR;
    b[4] = type;
    b[5] = header_len;
    fb_put_u16(b + 6, seq);
    fb_put_u16(b + 8, payload_len);
}

static size_t put_crc(uint8_t *b, size_t len)
{
    fb_put_u16(b + len, fb_crc16(b, len, FB_CRC_INIT));
    return len + FB_CRC_LEN;
}

fb_err_t fb_decode(const uint8_t *b, size_t n, fb_packet_t *p)
{
    size_t total;
    const uint8_t *pl;
    if (n < FB_MIN_PACKET_LEN)
        return FB_ERR_TRUNCATED;
    if (b[0] != FB_MAGIC0 || b[1] != FB_MAGIC1)
        return FB_ERR_MAGIC;
    if (fb_crc16(b, n - FB_CRC_LEN, FB_CRC_INIT) != fb_get_u16(b + n - FB_CRC_LEN))
        return FB_ERR_CRC;
    p->major = b[2];
    p->minor = b[3];
    p->type = b[4];
    p->header_len = b[5];
    p->seq = fb_get_u16(b + 6);
    p->payload_len = fb_get_u16(b + 8);
    if (p->major != FB_VERSION_MAJOR)
        return FB_ERR_VERSION;
    if (p->header_len < FB_COMMON_HEADER_LEN)
        return FB_ERR_LENGTH;
    total = (size_t)p->header_len + p->payload_len + FB_CRC_LEN;
    if (total > n)
        return FB_ERR_TRUNCATED;
    if (total < n)
        return FB_ERR_LENGTH;
    pl = b + p->header_len;
    switch (p->type) {
    case FB_TYPE_DATA: {
        fb_data_t *d = &p->u.data;
        if (p->header_len < FB_DATA_HEADER_LEN)
            return FB_ERR_LENGTH;
        d->timestamp_us = fb_get_u32(b + 10);
        d->sample_period_us = fb_get_u32(b + 14);
        d->acc_scale = fb_get_f32(b + 18);
        d->gyro_scale = fb_get_f32(b + 22);
        d->overflow_count = fb_get_u16(b + 26);
        d->n_samples = b[28];
        d->channel_mask = b[29];
        d->flags = b[30];
        if ((d->channel_mask & ~FB_CHANNEL_MASK_ALL) || d->channel_mask == 0)
            return FB_ERR_FIELD;
        d->n_channels = fb_popcount6(d->channel_mask);
        if (d->n_samples == 0 || p->payload_len != 2u * d->n_samples * d->n_channels)
            return FB_ERR_LENGTH;
        d->samples = pl;
        return FB_OK;
    }
    case FB_TYPE_COMMAND: {
        fb_command_t *c = &p->u.cmd;
        uint16_t need;
        memset(c, 0, sizeof *c);
        if (p->payload_len < 1)
            return FB_ERR_LENGTH;
        c->command = pl[0];
        switch (c->command) {
        case FB_CMD_START: case FB_CMD_STOP: case FB_CMD_GET_INFO: need = 0; break;
        case FB_CMD_SET_RATE: need = 2; break;
        case FB_CMD_SET_RANGES: need = 3; break;
        case FB_CMD_SET_CHANNELS: need = 1; break;
        default: return FB_ERR_UNKNOWN_TYPE;
        }
        if (p->payload_len < 1u + need)
            return FB_ERR_LENGTH;
        if (c->command == FB_CMD_SET_RATE)
            c->rate_hz = fb_get_u16(pl + 1);
        else if (c->command == FB_CMD_SET_RANGES) {
            c->acc_range_g = pl[1];
            c->gyro_range_dps = fb_get_u16(pl + 2);
        } else if (c->command == FB_CMD_SET_CHANNELS)
            c->channel_mask = pl[1];
        return FB_OK;
    }
    case FB_TYPE_ACK: {
        fb_ack_t *a = &p->u.ack;
        if (p->payload_len < FB_ACK_PAYLOAD_LEN)
            return FB_ERR_LENGTH;
        a->command = pl[0];
        a->status = pl[1];
        a->acked_seq = fb_get_u16(pl + 2);
        a->value = fb_get_u32(pl + 4);
        return FB_OK;
    }
    case FB_TYPE_DEVICE_INFO: {
        fb_info_t *i = &p->u.info;
        if (p->payload_len < FB_INFO_FIXED_LEN)
            return FB_ERR_LENGTH;
        i->supported_mask = pl[0];
        i->active_mask = pl[1];
        i->acc_range_g = pl[2];
        i->streaming = (uint8_t)(pl[3] & 1u);
        i->gyro_range_dps = fb_get_u16(pl + 4);
        i->sample_period_us = fb_get_u32(pl + 6);
        i->acc_scale = fb_get_f32(pl + 10);
        i->gyro_scale = fb_get_f32(pl + 14);
        i->max_samples_per_packet = pl[18];
        i->name_len = pl[19];
        if (i->name_len > FB_INFO_NAME_MAX)
            return FB_ERR_FIELD;
        if (FB_INFO_FIXED_LEN + (size_t)i->name_len > p->payload_len)
            return FB_ERR_LENGTH;
        i->name = (const char *)(pl + FB_INFO_FIXED_LEN);
        return FB_OK;
    }
    default:
        return FB_ERR_UNKNOWN_TYPE;
    }
}

int16_t fb_data_sample(const fb_data_t *d, unsigned sample, unsigned channel_index)
{
    return (int16_t)fb_get_u16(d->samples + 2u * (sample * d->n_channels + channel_index));
}

int fb_data_begin(fb_data_writer_t *w, uint8_t *buf, size_t cap, uint16_t seq, uint32_t timestamp_us,
                  uint32_t sample_period_us, float acc_scale, float gyro_scale, uint16_t overflow_count,
                  uint8_t flags, uint8_t channel_mask)
{
    if (cap < FB_DATA_HEADER_LEN + FB_CRC_LEN || (channel_mask & ~FB_CHANNEL_MASK_ALL) || channel_mask == 0)
        return -1;
    w->buf = buf;
    w->cap = cap;
    w->len = FB_DATA_HEADER_LEN;
    w->mask = channel_mask;
    w->n = 0;
    put_common(buf, FB_TYPE_DATA, FB_DATA_HEADER_LEN, seq, 0);
    fb_put_u32(buf + 10, timestamp_us);
    fb_put_u32(buf + 14, sample_period_us);
    fb_put_f32(buf + 18, acc_scale);
    fb_put_f32(buf + 22, gyro_scale);
    fb_put_u16(buf + 26, overflow_count);
    buf[28] = 0;
    buf[29] = channel_mask;
    buf[30] = flags;
    buf[31] = 0;
    return 0;
}

int fb_data_add(fb_data_writer_t *w, const int16_t sample[FB_NUM_CHANNELS])
{
    uint8_t ch;
    if (w->n == FB_MAX_SAMPLES || w->len + 2u * fb_popcount6(w->mask) + FB_CRC_LEN > w->cap)
        return -1;
    for (ch = 0; ch < FB_NUM_CHANNELS; ch++) {
        if (w->mask & (1u << ch)) {
            fb_put_u16(w->buf + w->len, (uint16_t)sample[ch]);
            w->len += 2;
        }
    }
    w->n++;
    return 0;
}

size_t fb_data_finish(fb_data_writer_t *w)
{
    if (w->n == 0)
        return 0;
    w->buf[28] = w->n;
    fb_put_u16(w->buf + 8, (uint16_t)(w->len - FB_DATA_HEADER_LEN));
    return put_crc(w->buf, w->len);
}

size_t fb_encode_command(uint8_t *out, size_t cap, uint16_t seq, const fb_command_t *c)
{
    uint16_t pl = 1;
    if (cap < FB_COMMON_HEADER_LEN + 4u + FB_CRC_LEN)
        return 0;
    out[FB_COMMON_HEADER_LEN] = c->command;
    switch (c->command) {
    case FB_CMD_SET_RATE: fb_put_u16(out + FB_COMMON_HEADER_LEN + 1, c->rate_hz); pl = 3; break;
    case FB_CMD_SET_RANGES:
        out[FB_COMMON_HEADER_LEN + 1] = c->acc_range_g;
        fb_put_u16(out + FB_COMMON_HEADER_LEN + 2, c->gyro_range_dps);
        pl = 4;
        break;
    case FB_CMD_SET_CHANNELS: out[FB_COMMON_HEADER_LEN + 1] = c->channel_mask; pl = 2; break;
    default: break;
    }
    put_common(out, FB_TYPE_COMMAND, FB_COMMON_HEADER_LEN, seq, pl);
    return put_crc(out, FB_COMMON_HEADER_LEN + pl);
}

size_t fb_encode_ack(uint8_t *out, size_t cap, uint16_t seq, const fb_ack_t *a)
{
    uint8_t *pl = out + FB_COMMON_HEADER_LEN;
    if (cap < FB_COMMON_HEADER_LEN + FB_ACK_PAYLOAD_LEN + FB_CRC_LEN)
        return 0;
    put_common(out, FB_TYPE_ACK, FB_COMMON_HEADER_LEN, seq, FB_ACK_PAYLOAD_LEN);
    pl[0] = a->command;
    pl[1] = a->status;
    fb_put_u16(pl + 2, a->acked_seq);
    fb_put_u32(pl + 4, a->value);
    return put_crc(out, FB_COMMON_HEADER_LEN + FB_ACK_PAYLOAD_LEN);
}

size_t fb_encode_info(uint8_t *out, size_t cap, uint16_t seq, const fb_info_t *i)
{
    uint8_t *pl = out + FB_COMMON_HEADER_LEN;
    uint8_t nl = i->name_len > FB_INFO_NAME_MAX ? FB_INFO_NAME_MAX : i->name_len;
    uint16_t plen = (uint16_t)(FB_INFO_FIXED_LEN + nl);
    if (cap < FB_COMMON_HEADER_LEN + plen + FB_CRC_LEN)
        return 0;
    put_common(out, FB_TYPE_DEVICE_INFO, FB_COMMON_HEADER_LEN, seq, plen);
    pl[0] = i->supported_mask;
    pl[1] = i->active_mask;
    pl[2] = i->acc_range_g;
    pl[3] = i->streaming ? 1u : 0u;
    fb_put_u16(pl + 4, i->gyro_range_dps);
    fb_put_u32(pl + 6, i->sample_period_us);
    fb_put_f32(pl + 10, i->acc_scale);
    fb_put_f32(pl + 14, i->gyro_scale);
    pl[18] = i->max_samples_per_packet;
    pl[19] = nl;
    if (nl)
        memcpy(pl + FB_INFO_FIXED_LEN, i->name, nl);
    return put_crc(out, FB_COMMON_HEADER_LEN + plen);
}
