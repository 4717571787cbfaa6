/* The lease protocol's Lua scripts (schemas/lease/acquire.lua, fill.lua,
 * release.lua), embedded at build time by worker/lua/embed.py, the
 * project's one Lua embedder. */
#ifndef INVQ_PRODUCER_LEASE_SCRIPTS_H
#define INVQ_PRODUCER_LEASE_SCRIPTS_H

extern const char lua_lease_acquire[];
extern const char lua_lease_fill[];
extern const char lua_lease_release[];

#endif
