/* Parsing of the --http-addr value: "host:port", "[v6]:port" or "off". */
#include "http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_port(const char *s, int *port)
{
    if (!*s || strlen(s) > 5)
        return -EINVAL;
    int v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        v = v * 10 + (*s - '0');
    }
    if (v > 65535)
        return -EINVAL;
    *port = v;
    return 0;
}

int http_addr_parse(const char *addr, struct sockaddr_storage *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!addr || !*addr) {
        snprintf(err, errlen, "empty HTTP address");
        return -EINVAL;
    }
    if (strcmp(addr, "off") == 0)
        return 1;
    char host[64];
    const char *port_str;
    bool v6 = addr[0] == '[';
    if (v6) {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':' || (size_t)(close - addr - 1) >= sizeof host) {
            snprintf(err, errlen, "bad HTTP address '%s': expected [IPv6]:port", addr);
            return -EINVAL;
        }
        memcpy(host, addr + 1, (size_t)(close - addr - 1));
        host[close - addr - 1] = '\0';
        port_str = close + 2;
    } else {
        const char *colon = strrchr(addr, ':');
        if (!colon || (size_t)(colon - addr) >= sizeof host || memchr(addr, ':', (size_t)(colon - addr))) {
            snprintf(err, errlen, "bad HTTP address '%s': expected host:port, [IPv6]:port or off", addr);
            return -EINVAL;
        }
        memcpy(host, addr, (size_t)(colon - addr));
        host[colon - addr] = '\0';
        port_str = colon + 1;
    }
    int port;
    if (parse_port(port_str, &port) < 0) {
        snprintf(err, errlen, "bad port in HTTP address '%s'", addr);
        return -EINVAL;
    }
    if (!v6 && (strcmp(host, "localhost") == 0 || host[0] == '\0'))
        snprintf(host, sizeof host, "%s", host[0] ? "127.0.0.1" : "0.0.0.0");
    int rc = v6 ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)out)
                : uv_ip4_addr(host, port, (struct sockaddr_in *)out);
    if (rc < 0) {
        snprintf(err, errlen, "bad host in HTTP address '%s': not a numeric %s address", addr,
                 v6 ? "IPv6" : "IPv4");
        return -EINVAL;
    }
    return 0;
}
