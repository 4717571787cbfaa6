/* CRC16 key slots and hash tags per the Redis Cluster specification, and
 * the MOVED / ASK redirect parser. */
#include "cluster_slot.h"

#include <stdlib.h>
#include <string.h>

uint16_t cluster_crc16(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

unsigned cluster_keyslot(const void *key, size_t len)
{
    const char *k = key;
    const char *open = memchr(k, '{', len);
    if (open != NULL) {
        size_t rest = len - (size_t)(open - k) - 1;
        const char *close = memchr(open + 1, '}', rest);
        if (close != NULL && close > open + 1)
            return cluster_crc16(open + 1, (size_t)(close - open - 1)) & (CLUSTER_SLOTS - 1);
    }
    return cluster_crc16(k, len) & (CLUSTER_SLOTS - 1);
}

bool cluster_parse_redirect(const char *msg, size_t len, cluster_redirect *out)
{
    char buf[320];
    if (len >= sizeof buf)
        return false;
    memcpy(buf, msg, len);
    buf[len] = '\0';
    memset(out, 0, sizeof *out);
    const char *p;
    if (strncmp(buf, "MOVED ", 6) == 0) {
        p = buf + 6;
    } else if (strncmp(buf, "ASK ", 4) == 0) {
        out->ask = true;
        p = buf + 4;
    } else {
        return false;
    }
    char *end;
    unsigned long slot = strtoul(p, &end, 10);
    if (end == p || *end != ' ' || slot >= CLUSTER_SLOTS)
        return false;
    out->slot = (unsigned)slot;
    const char *addr = end + 1;
    const char *colon = strrchr(addr, ':');
    if (colon == NULL)
        return false;
    const char *h = addr, *he = colon;
    if (*h == '[') {
        if (he - h < 2 || he[-1] != ']')
            return false;
        h++;
        he--;
    }
    if ((size_t)(he - h) >= sizeof out->host)
        return false;
    long port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || port < 1 || port > 65535)
        return false;
    memcpy(out->host, h, (size_t)(he - h));
    out->host[he - h] = '\0';
    out->port = (int)port;
    return true;
}
