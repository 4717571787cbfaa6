/* A tlspipe on a private loop and thread, for blocking hiredis contexts
 * (see tlsthread.h). The handle is shared by the caller and the thread
 * (a reference each) and freed by whichever lets go last. The thread is
 * joinable: tlsthread_wait() joins it, tlsthread_release() without a wait
 * detaches it. */
#include "tlsthread.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/crypto.h>
#include <uv.h>

#include "error.h"
#include "tlspipe.h"

struct tlsthread {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    bool settled;  /* handshake done or failed */
    bool ended;    /* the thread is done with the loop and OpenSSL */
    pthread_t th;
    bool reaped;   /* joined or detached (by the caller's side only) */
    int status;    /* the first failure, 0 while none */
    char msg[512];
    uv_loop_t loop;
    tlspipe *pipe;
};

static void unref(tlsthread *t)
{
    pthread_mutex_lock(&t->mu);
    int left = --t->refs;
    pthread_mutex_unlock(&t->mu);
    if (left > 0)
        return;
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

static void on_pipe(tlspipe *p, tlspipe_event ev, int status, const char *msg, void *data)
{
    tlsthread *t = data;
    if (ev == TLSPIPE_APP_CLOSED) {
        tlspipe_close(p, NULL, NULL);
        t->pipe = NULL;
    }
    pthread_mutex_lock(&t->mu);
    if (ev == TLSPIPE_ENDED && status < 0 && t->status == 0) {
        t->status = status;
        snprintf(t->msg, sizeof t->msg, "%s", msg ? msg : "TLS connection failed");
    } else if (ev == TLSPIPE_APP_CLOSED && !t->settled && t->status == 0) {
        t->status = INVQ_ECLOSED;
        snprintf(t->msg, sizeof t->msg, "TLS connection closed before the handshake");
    }
    t->settled = true;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

static void *run(void *arg)
{
    tlsthread *t = arg;
    uv_run(&t->loop, UV_RUN_DEFAULT);
    uv_loop_close(&t->loop);
    OPENSSL_thread_stop(); /* this thread's random generators and error queue */
    pthread_mutex_lock(&t->mu);
    t->ended = true;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    unref(t);
    return NULL;
}

static struct timespec deadline_after(int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int tlsthread_start(int fd, const redis_url *u, int timeout_ms, tlsthread **out, char *err, size_t errlen)
{
    tlsthread *t;
    int net_fd, pipe_fd, rc;
    pthread_condattr_t ca;

    *out = NULL;
    if (!(t = calloc(1, sizeof *t)))
        return err_set(err, errlen, INVQ_ENOMEM, "TLS: out of memory");
    if ((rc = uv_loop_init(&t->loop)) < 0) {
        free(t);
        return err_set(err, errlen, INVQ_ENOMEM, "TLS: cannot create a loop: %s", uv_strerror(rc));
    }
    if ((rc = tlspipe_splice(fd, true, &net_fd, &pipe_fd, err, errlen)) < 0 ||
        (rc = tlspipe_new(&t->loop, u, net_fd, pipe_fd, timeout_ms, on_pipe, t, &t->pipe, err, errlen)) < 0) {
        uv_run(&t->loop, UV_RUN_DEFAULT); /* whatever the pipe left closing */
        uv_loop_close(&t->loop);
        free(t);
        return rc;
    }
    pthread_mutex_init(&t->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cv, &ca);
    pthread_condattr_destroy(&ca);
    t->refs = 2;

    /* The pump thread takes no signals: they stay with the program's threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&t->th, NULL, run, t);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        tlspipe_close(t->pipe, NULL, NULL);
        uv_run(&t->loop, UV_RUN_DEFAULT);
        uv_loop_close(&t->loop);
        pthread_cond_destroy(&t->cv);
        pthread_mutex_destroy(&t->mu);
        free(t);
        return err_set(err, errlen, INVQ_ENOMEM, "TLS: cannot start a thread: %s", strerror(rc));
    }

    /* The pipe's own timer bounds the handshake; the margin only guards
     * against a thread that never runs. */
    struct timespec dl = deadline_after(timeout_ms > 0 ? timeout_ms + 5000 : 0);
    pthread_mutex_lock(&t->mu);
    while (!t->settled) {
        if (timeout_ms > 0) {
            if (pthread_cond_timedwait(&t->cv, &t->mu, &dl) == ETIMEDOUT)
                break;
        } else {
            pthread_cond_wait(&t->cv, &t->mu);
        }
    }
    rc = t->status;
    if (!t->settled)
        rc = err_set(err, errlen, INVQ_ETIMEOUT, "TLS handshake timed out after %d ms", timeout_ms);
    else if (rc < 0)
        err_set(err, errlen, rc, "%s", t->msg);
    pthread_mutex_unlock(&t->mu);
    if (rc < 0) {
        /* end the thread now (end of file on its app end) rather than
         * whenever the caller frees the context */
        shutdown(fd, SHUT_RDWR);
        tlsthread_wait(t, 5000);
        tlsthread_release(t);
        return rc;
    }
    *out = t;
    return 0;
}

int tlsthread_error(tlsthread *t, char *err, size_t errlen)
{
    int rc;
    if (!t)
        return 0;
    pthread_mutex_lock(&t->mu);
    rc = t->status;
    if (rc < 0)
        err_set(err, errlen, rc, "%s", t->msg);
    pthread_mutex_unlock(&t->mu);
    return rc;
}

int tlsthread_wait(tlsthread *t, int timeout_ms)
{
    int rc = 0;
    if (!t)
        return 0;
    struct timespec dl = deadline_after(timeout_ms);
    pthread_mutex_lock(&t->mu);
    while (!t->ended && rc == 0)
        if (pthread_cond_timedwait(&t->cv, &t->mu, &dl) == ETIMEDOUT)
            rc = INVQ_ETIMEOUT;
    pthread_mutex_unlock(&t->mu);
    if (rc == 0 && !t->reaped) {
        pthread_join(t->th, NULL); /* it only returns now: gone, stack and all */
        t->reaped = true;
    }
    return rc;
}

void tlsthread_release(tlsthread *t)
{
    if (!t)
        return;
    if (!t->reaped) {
        pthread_detach(t->th);
        t->reaped = true;
    }
    unref(t);
}
