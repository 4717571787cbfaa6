/* The Lua scripts of worker/lua/, embedded in the binary at build time
 * (worker/lua/embed.py generates lua_scripts.c). */
#ifndef INVQ_WORKER_LUA_SCRIPTS_H
#define INVQ_WORKER_LUA_SCRIPTS_H

extern const char lua_fetch[];
extern const char lua_finish[];
extern const char lua_promote[];
extern const char lua_reap[];
extern const char lua_release[];
extern const char lua_sample[];
extern const char lua_rate[];
extern const char lua_heartbeat[];

#endif
