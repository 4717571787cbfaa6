/* Loading the embedded Lua scripts on a connection. */
#include "scripts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua_scripts.h"

static const char *const sources[SCRIPT_COUNT] = {
    lua_fetch, lua_finish, lua_promote, lua_reap, lua_release, lua_sample, lua_rate, lua_heartbeat,
};

struct load_req;

typedef struct load_slot {
    struct load_req *req;
    script_id id;
} load_slot;

typedef struct load_req {
    scripts *s;
    scripts_cb cb;
    void *data;
    int remaining;
    int status;
    load_slot slots[SCRIPT_COUNT];
} load_req;

static void on_loaded(uvredis *r, int status, redisReply *reply, void *data)
{
    load_slot *slot = data;
    load_req *req = slot->req;
    if (status < 0 || reply == NULL) {
        if (req->status == 0)
            snprintf(req->s->error, sizeof req->s->error, "SCRIPT LOAD: connection lost");
        req->status = status < 0 ? status : -EIO;
    } else if (reply->type != REDIS_REPLY_STRING || reply->len != 40) {
        if (req->status == 0)
            snprintf(req->s->error, sizeof req->s->error, "SCRIPT LOAD: %s",
                     reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
        req->status = -EPROTO;
    } else {
        memcpy(req->s->sha[slot->id], reply->str, 40);
        req->s->sha[slot->id][40] = '\0';
    }
    if (--req->remaining == 0) {
        req->cb(req->status, req->data);
        free(req);
    }
}

int scripts_load(scripts *s, rlink *l, scripts_cb cb, void *data)
{
    load_req *req = calloc(1, sizeof *req);
    if (req == NULL)
        return -ENOMEM;
    req->s = s;
    req->cb = cb;
    req->data = data;
    req->remaining = 1; /* held while sending */
    for (int i = 0; i < SCRIPT_COUNT; i++) {
        req->slots[i] = (load_slot){ req, (script_id)i };
        const char *argv[3] = { "SCRIPT", "LOAD", sources[i] };
        size_t lens[3] = { 6, 4, strlen(sources[i]) };
        if (rlink_command(l, 3, argv, lens, on_loaded, &req->slots[i]) < 0) {
            snprintf(s->error, sizeof s->error, "SCRIPT LOAD: cannot send (not connected)");
            req->status = -EIO;
            break;
        }
        req->remaining++;
    }
    if (--req->remaining == 0) {
        int st = req->status;
        free(req);
        if (st < 0)
            return st;
        cb(0, data);
    }
    return 0;
}

bool scripts_is_noscript(const redisReply *reply)
{
    return reply != NULL && reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0;
}
