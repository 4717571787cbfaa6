/* The soak suite's shared state: a file both the orchestrator (soak.c) and
 * its producer processes (soak_producer.c, the same executable run as
 * `soak producer ...`) map MAP_SHARED, so what a producer reported survives
 * its kill -9. One status byte per job of every producer slot says what
 * invq_send_many() returned for it; the counters are what the slot's
 * current process saw. */
#ifndef INVQ_TESTS_SOAK_H
#define INVQ_TESTS_SOAK_H

#include <stdatomic.h>
#include <stdint.h>

#define SOAK_SLOTS 3    /* producer slots: 0 and 1 plain, 2 with a tiny RLIMIT_FSIZE */
#define SOAK_BATCH 10   /* jobs per invq_send_many() */

enum soak_status { SOAK_NONE = 0, SOAK_SENT = 1, SOAK_SPOOLED = 2, SOAK_ERROR = 3 };

typedef struct soak_slot {
    _Atomic long long sent, spooled, errors;   /* jobs, over every process of the slot */
    _Atomic long long pending;                 /* the current process's spool: jobs not yet confirmed */
    _Atomic long long adopted;                 /* orphaned spool files the current process took over */
    _Atomic long long replayed;                /* jobs replayed, summed over the slot's processes */
    _Atomic int running;                       /* set by the process once its producer exists */
    char last_error[256];                      /* the last negative send's message (torn reads are fine) */
} soak_slot;

typedef struct soak_map {
    _Atomic int stop;        /* the orchestrator asks every producer to flush its spool and exit */
    long long per_slot;      /* keys (and jobs) per slot: "sk:<slot>:<i>", i < per_slot */
    soak_slot slot[SOAK_SLOTS];
    /* followed by SOAK_SLOTS * per_slot status bytes */
} soak_map;

static inline _Atomic unsigned char *soak_status_of(soak_map *m, int slot, long long i)
{
    return (_Atomic unsigned char *)((unsigned char *)(m + 1) + (size_t)slot * (size_t)m->per_slot + (size_t)i);
}

static inline size_t soak_map_size(long long per_slot)
{
    return sizeof(soak_map) + (size_t)SOAK_SLOTS * (size_t)per_slot;
}

/* The producer process: argv after "producer" is MAP SLOT URL SPOOLDIR RATE
 * FROM FSIZE (FSIZE 0: no limit). Returns the exit status. */
int soak_producer_main(int argc, char **argv);

#endif
