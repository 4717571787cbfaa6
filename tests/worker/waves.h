/* Waves of one-op delete jobs for the queue tests that drive libinvq's
 * producers (the cluster queue and sharded queue tests): wave w is `jobs`
 * jobs of `per_job` keys "w<w>:k:<n>", set on the cache beforehand, sent by
 * the sync or the async producer. Checks use WT_CHECK. */
#ifndef INVQ_TESTS_WORKER_WAVES_H
#define INVQ_TESTS_WORKER_WAVES_H

#include <stddef.h>

#include <hiredis/hiredis.h>
#include <invq/invq.h>

/* The name of key i of wave w. */
void wave_key(char *buf, size_t len, int w, int i);

/* SETs every key of wave w on the cache (pipelined). */
void wave_set(redisContext *cc, int w, int jobs, int per_job);

/* Job j of wave w (free with invq_job_free()). */
invq_job *wave_job(int w, int j, int per_job);

/* Sends wave w through an async producer made with o on a loop of its own;
 * every job must end INVQ_SENT. */
void wave_send_async(const invq_options *o, int w, int jobs, int per_job);

#endif
