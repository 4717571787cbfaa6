/* The Lua scripts of worker/ctl/lua/, embedded at build time by
 * worker/ctl/lua/embed.py into ctl_lua.c. */
#ifndef INVQ_CTL_LUA_H
#define INVQ_CTL_LUA_H

extern const char ctl_lua_requeue[];
extern const char ctl_lua_purge[];

#endif
