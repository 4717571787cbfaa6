/* Redis Cluster key slots, as the cluster specification defines them: the
 * CRC16 (XMODEM) of the key, or of its hash tag -- the bytes between the
 * first '{' and the first '}' after it, when there is at least one byte
 * between them -- modulo 16384. Also the parse of MOVED / ASK redirects. */
#ifndef INVQ_CORE_CLUSTER_SLOT_H
#define INVQ_CORE_CLUSTER_SLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLUSTER_SLOTS 16384

/* CRC16-XMODEM (polynomial 0x1021, initial 0) of len bytes. */
uint16_t cluster_crc16(const void *buf, size_t len);

/* The slot of a key (binary safe), 0..16383. */
unsigned cluster_keyslot(const void *key, size_t len);

/* A redirect error reply: "MOVED 3999 127.0.0.1:6381" or "ASK 3999 [::1]:6381". */
typedef struct cluster_redirect {
    bool ask;       /* ASK (one command, ASKING first); false: MOVED (the slot moved for good) */
    unsigned slot;
    char host[256]; /* without brackets; empty when the node did not know its address */
    int port;
} cluster_redirect;

/* Parses an error reply's text (msg, len: borrowed) into *out. Returns true
 * for a well-formed MOVED or ASK, false for anything else. */
bool cluster_parse_redirect(const char *msg, size_t len, cluster_redirect *out);

#endif
