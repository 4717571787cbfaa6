/* The token bucket of --cache-max-keys-per-s (keybudget.h). */
#include "keybudget.h"

void keybudget_init(keybudget *kb, uint64_t keys_per_s, uint64_t now_ns)
{
    kb->rate = (double)keys_per_s;
    kb->burst = kb->rate / 10.0 < 1.0 ? 1.0 : kb->rate / 10.0;
    kb->tokens = kb->burst;
    kb->last_ns = now_ns;
}

bool keybudget_on(const keybudget *kb)
{
    return kb->rate > 0;
}

uint64_t keybudget_take(keybudget *kb, uint64_t n, uint64_t now_ns)
{
    if (kb->rate <= 0 || n == 0)
        return 0;
    if (now_ns > kb->last_ns) {
        kb->tokens += kb->rate * (double)(now_ns - kb->last_ns) / 1e9;
        if (kb->tokens > kb->burst)
            kb->tokens = kb->burst;
        kb->last_ns = now_ns;
    }
    double need = (double)n < kb->burst ? (double)n : kb->burst;
    if (kb->tokens >= need) {
        kb->tokens -= (double)n;
        return 0;
    }
    double wait = (need - kb->tokens) / kb->rate * 1e9;
    return wait < 1.0 ? 1 : (uint64_t)wait + 1;
}
