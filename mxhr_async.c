/* mod_mxhr: streams that hold no thread between sections.
 *
 * On the event MPM the handler sends the first section, registers a
 * timed callback for the next deadline and returns SUSPENDED; each
 * callback sends what is due and re-registers, until the stream ends.
 * The answers to what httpd 2.4.71 does to such streams (see
 * shared/notes/event-mpm-async.md) are marked [1] to [8] below:
 * [1] ending without leaking the connection, [2] timers that stall,
 * [3] the connection cap, [4] disconnects nobody reports, [5] slow
 * readers, [6] graceful restarts, [7] early timers, [8] counters.
 */

#include <stdlib.h>

#include "apr_strings.h"
#include "apr_hash.h"
#include "apr_thread_proc.h"

#include "httpd.h"
#include "http_config.h"
#include "http_connection.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_mpm.h"
#include "mpm_common.h"

#include "mxhr_async.h"
#include "mxhr_shared.h"

APLOG_USE_MODULE(mxhr);

extern module AP_MODULE_DECLARE_DATA mxhr_module;

/* [2] How often the helper thread nudges the MPM's listener, and how
 * far in the past its nudge is dated (see noop_timer). */
#define MXHR_KICK_EVERY apr_time_from_msec(25)
#define MXHR_KICK_PAST  apr_time_from_sec(86400)
/* Streams due within the same slot share one timed callback: one worker
 * wake-up serves them all, instead of one per section (measured: thread
 * switches were most of the CPU time). Adds at most this much lateness. */
#define MXHR_SLOT apr_time_from_msec(5)
/* [5] Bounds for how long one write may block on a client. */
#define MXHR_SEND_TIMEOUT_MIN apr_time_from_msec(50)

static apr_pool_t *child_pool;
static volatile apr_uint32_t child_streams;  /* suspended, this child */
static volatile apr_uint32_t kick_state;     /* 0 none, 1 running, 2 failed */
static volatile int kick_stop;
static apr_thread_t *kick_thread;
static double worker_factor = 2.0;           /* AsyncRequestWorkerFactor */
static volatile apr_uint32_t cap_warned;

/* [8] Timers cannot be cancelled and may outlive the request whose
 * stream they drive: their baton is a handle of our own (malloc'd),
 * claimed under a lock, and freed only when no timer can still carry
 * it. The child's registry of live handles also lets the helper thread
 * end every waiting stream on a graceful stop [6]. */
typedef enum {
    H_WAITING,                  /* a timer will run it */
    H_RUNNING,                  /* a tick or the helper thread has it */
    H_DONE                      /* ended; only stale timers point here */
} handle_state;

typedef struct mxhr_handle mxhr_handle;
struct mxhr_handle {
    mxhr_stream *s;
    handle_state state;
    int timers;                 /* slots it waits in, not yet run */
    mxhr_handle *prev, *next;   /* live handles of this child */
    mxhr_handle *slot_next;     /* the others due in the same slot */
};

/* A slot: the handles due in one MXHR_SLOT of time, and the one MPM
 * timer that will run them. */
typedef struct {
    apr_int64_t key;            /* due time / MXHR_SLOT, rounded up */
    mxhr_handle *due;
} mxhr_slot;

static apr_thread_mutex_t *registry_mutex;
static mxhr_handle *live;
static apr_hash_t *slots;       /* key -> mxhr_slot, under registry_mutex */

static void tick(void *baton);
static void finish(mxhr_stream *s);

/* [3] The event MPM does not export AsyncRequestWorkerFactor; read it
 * from the configuration tree, wherever it is. */
static void find_worker_factor(const ap_directive_t *d)
{
    for (; d; d = d->next) {
        if (strcasecmp(d->directive, "AsyncRequestWorkerFactor") == 0
            && d->args) {
            double v = strtod(d->args, NULL);
            if (v >= 1.0) {
                worker_factor = v;
            }
        }
        if (d->first_child) {
            find_worker_factor(d->first_child);
        }
    }
}

void mxhr_async_post_config(server_rec *s)
{
    worker_factor = 2.0;
    find_worker_factor(ap_conftree);
}

/* [2] The listener computes its poll timeout from the timers only once
 * the first one has expired: woken by a new timer that is not due yet,
 * it polls with no timeout at all, and registering wakes it only for a
 * timer earlier than the (now stale) next expiry it remembers. A timer
 * dated a day in the past is always earlier: it always wakes the
 * listener, which then runs everything that is due. */
static void noop_timer(void *baton)
{
    (void)baton;
}

static void nudge_listener(void)
{
    ap_mpm_register_timed_callback(-MXHR_KICK_PAST, noop_timer, NULL);
}

/* Takes a waiting stream out of the registry, or NULL. */
static mxhr_handle *claim_waiting(void)
{
    mxhr_handle *h;

    apr_thread_mutex_lock(registry_mutex);
    for (h = live; h && h->state != H_WAITING; h = h->next) {
        /* look further */
    }
    if (h) {
        h->state = H_RUNNING;
    }
    apr_thread_mutex_unlock(registry_mutex);
    return h;
}

static void release(mxhr_handle *h);

/* [6] On a graceful restart or stop the old child waits for its
 * connections to end, and its listener cannot be relied on to run our
 * timers any more: end every waiting stream here, with its closing
 * delimiter. The last connection to go wakes the listener, which then
 * lets the child exit. */
static void end_all_streams(void)
{
    mxhr_handle *h;

    while ((h = claim_waiting()) != NULL) {
        mxhr_stream *s = h->s;

        apr_thread_mutex_lock(s->r->invoke_mtx);
        if (!s->ended) {
            mxhr_stream_close(s, MXHR_END_SHUTDOWN);
        }
        apr_thread_mutex_unlock(s->r->invoke_mtx);
        release(h);
        finish(s);
    }
}

static void *APR_THREAD_FUNC kick_main(apr_thread_t *thd, void *data)
{
    while (!kick_stop) {
        apr_sleep(MXHR_KICK_EVERY);
        if (kick_stop || apr_atomic_read32(&child_streams) == 0) {
            continue;
        }
        if (mxhr_mpm_stopping()) {
            end_all_streams();
        }
        else {
            nudge_listener();
        }
    }
    apr_thread_exit(thd, APR_SUCCESS);
    return NULL;
}

/* A pre-cleanup, so that the thread is gone before the MPM's own
 * structures that it calls into are. */
static apr_status_t kick_cleanup(void *data)
{
    apr_status_t rv;

    kick_stop = 1;
    if (kick_thread) {
        apr_thread_join(&rv, kick_thread);
        kick_thread = NULL;
    }
    return APR_SUCCESS;
}

/* Started by the first suspended stream, when the MPM surely runs. */
static int kick_running(server_rec *s)
{
    if (apr_atomic_cas32(&kick_state, 1, 0) == 0) {
        apr_status_t rv = apr_thread_create(&kick_thread, NULL, kick_main,
                                            NULL, child_pool);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, MXHR_LOGNO(030)
                         "cannot start the timer thread; streams in this "
                         "child hold a thread each");
            apr_atomic_set32(&kick_state, 2);
        }
    }
    return apr_atomic_read32(&kick_state) == 1;
}

void mxhr_async_child_init(apr_pool_t *pchild, server_rec *s)
{
    child_pool = pchild;
    child_streams = 0;
    kick_state = 0;
    kick_stop = 0;
    cap_warned = 0;
    live = NULL;
    slots = apr_hash_make(pchild);
    if (apr_thread_mutex_create(&registry_mutex, APR_THREAD_MUTEX_DEFAULT,
                                pchild) != APR_SUCCESS) {
        child_pool = NULL;      /* no async path in this child */
        return;
    }
    apr_pool_pre_cleanup_register(pchild, NULL, kick_cleanup);
}

/* [7] A timer may fire before the thread that suspended the connection
 * has let go of it: only this hook says it has. */
static void mxhr_suspend_connection(conn_rec *c, request_rec *r)
{
    mxhr_stream *s = ap_get_module_config(c->conn_config, &mxhr_module);

    if (s && s->async) {
        apr_atomic_set32(&s->suspended, 1);
    }
}

void mxhr_async_register_hooks(apr_pool_t *p)
{
    ap_hook_suspend_connection(mxhr_suspend_connection, NULL, NULL,
                               APR_HOOK_MIDDLE);
}

int mxhr_async_possible(request_rec *r, const mxhr_srv_conf *sc)
{
#if APR_HAS_THREADS
    conn_rec *c = r->connection;
    int async = 0;

    if (sc->async == 0 || !child_pool || !r->invoke_mtx) {
        return 0;
    }
    /* prefork and worker answer APR_ENOTIMPL. */
    if (ap_mpm_query(AP_MPMQ_IS_ASYNC, &async) != APR_SUCCESS || !async) {
        return 0;
    }
    /* HTTP/2 streams have a master connection (suspending one crashed
     * the child); subrequests and clogging input filters need the
     * thread they run on. */
    return c->cs && !c->master && !c->clogging_input_filters && !r->main
           && !r->header_only;
#else
    return 0;
#endif
}

/* [3] Suspended connections count towards the child's connection limit:
 * say once, with the numbers, which setting to raise. */
static void check_cap(request_rec *r)
{
    int threads = 0;
    apr_uint32_t n = apr_atomic_read32(&child_streams);

    if (ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads) != APR_SUCCESS
        || threads <= 0) {
        return;
    }
    /* With every thread idle the child takes at most
     * ThreadsPerChild + ThreadsPerChild * factor connections; the
     * streams leave ThreadsPerChild of them for other traffic. */
    if (n < (apr_uint32_t)(threads * worker_factor)
        || apr_atomic_cas32(&cap_warned, 1, 0) != 0) {
        return;
    }
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, MXHR_LOGNO(031)
                  "this child holds %u suspended streams: the event MPM "
                  "stops accepting connections in a child holding more "
                  "than ThreadsPerChild + idle threads x "
                  "AsyncRequestWorkerFactor (%d + %d x %g); raise "
                  "AsyncRequestWorkerFactor to at least (streams per "
                  "child / ThreadsPerChild), e.g. %d, or add children",
                  n, threads, threads, worker_factor,
                  (int)(2 * n / threads) + 1);
}

/* [1] 2.4 cannot hand a suspended connection back to the MPM: end the
 * request as any other (EOS, then EOR, which logs it and frees r->pool
 * and the stream with it), close our side, and destroy the connection's
 * pool, whose cleanups close the socket and do the MPM's accounting. */
static void finish(mxhr_stream *s)
{
    request_rec *r = s->r;
    conn_rec *c = r->connection;

    apr_atomic_dec32(&child_streams);
    ap_finalize_request_protocol(r);
    ap_process_request_after_handler(r);
    /* r and s are gone from here on. */
    ap_start_lingering_close(c);
    apr_pool_destroy(c->pool);
}

static void slot_fire(void *baton);

/* Hands the stream to the timer of the slot it is due in (at or just
 * after due), registering that timer if the slot is new. */
static apr_status_t arm(mxhr_handle *h, apr_time_t due)
{
    apr_int64_t key = (due + MXHR_SLOT - 1) / MXHR_SLOT;
    apr_interval_time_t delay;
    mxhr_slot *slot;
    apr_status_t rv = APR_SUCCESS;

    apr_thread_mutex_lock(registry_mutex);
    slot = apr_hash_get(slots, &key, sizeof(key));
    if (!slot) {
        slot = malloc(sizeof(*slot));
        if (!slot) {
            apr_thread_mutex_unlock(registry_mutex);
            return APR_ENOMEM;
        }
        slot->key = key;
        slot->due = NULL;
        /* Negative when already due: the MPM runs it at once. */
        delay = key * MXHR_SLOT - apr_time_now();
        rv = ap_mpm_register_timed_callback(delay, slot_fire, slot);
        if (rv != APR_SUCCESS) {
            apr_thread_mutex_unlock(registry_mutex);
            free(slot);
            return rv;
        }
        apr_hash_set(slots, &slot->key, sizeof(slot->key), slot);
        if (delay < 2 * MXHR_KICK_EVERY) {
            /* [2] Too short to wait for the helper's next nudge. */
            nudge_listener();
        }
    }
    h->state = H_WAITING;
    h->timers++;
    h->slot_next = slot->due;
    slot->due = h;
    apr_thread_mutex_unlock(registry_mutex);
    return rv;
}

/* The stream is ending: out of the registry; the handle goes now or
 * with the last stale timer. */
static void release(mxhr_handle *h)
{
    int free_now;

    apr_thread_mutex_lock(registry_mutex);
    if (h->prev) {
        h->prev->next = h->next;
    }
    else {
        live = h->next;
    }
    if (h->next) {
        h->next->prev = h->prev;
    }
    h->state = H_DONE;
    h->s = NULL;
    free_now = h->timers == 0;
    apr_thread_mutex_unlock(registry_mutex);
    if (free_now) {
        free(h);
    }
}

static void tick(void *baton)
{
    mxhr_handle *h = baton;
    mxhr_stream *s;
    request_rec *r;
    apr_time_t wake;
    int mine;

    apr_thread_mutex_lock(registry_mutex);
    h->timers--;
    mine = h->state == H_WAITING;
    if (mine) {
        h->state = H_RUNNING;
    }
    else if (h->state == H_DONE && h->timers == 0) {
        apr_thread_mutex_unlock(registry_mutex);
        free(h);
        return;
    }
    apr_thread_mutex_unlock(registry_mutex);
    if (!mine) {
        return;     /* a stale timer: someone else ended or has it */
    }
    s = h->s;
    r = s->r;

    /* [7] Not ours yet: look again in a moment. */
    if (!apr_atomic_read32(&s->suspended)
        && arm(h, apr_time_now() + apr_time_from_msec(1)) == APR_SUCCESS) {
        return;
    }

    apr_thread_mutex_lock(r->invoke_mtx);
    /* [4] [6] step() looks at the socket and the MPM state first. */
    wake = mxhr_stream_step(s, apr_time_now());
    if (wake) {
        if (arm(h, wake) == APR_SUCCESS) {
            apr_thread_mutex_unlock(r->invoke_mtx);
            return;
        }
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, MXHR_LOGNO(032)
                      "cannot register the next timed callback; ending "
                      "the stream");
        mxhr_stream_close(s, MXHR_END_ERROR);
    }
    apr_thread_mutex_unlock(r->invoke_mtx);
    release(h);
    finish(s);
}

/* One MPM timer for every stream due in the slot: run them in turn. The
 * slot leaves the table first, so re-arms go to later slots. */
static void slot_fire(void *baton)
{
    mxhr_slot *slot = baton;
    mxhr_handle *h, *next;

    apr_thread_mutex_lock(registry_mutex);
    apr_hash_set(slots, &slot->key, sizeof(slot->key), NULL);
    h = slot->due;
    apr_thread_mutex_unlock(registry_mutex);
    free(slot);
    for (; h; h = next) {
        next = h->slot_next;   /* read before tick() may free h */
        tick(h);
    }
}

apr_status_t mxhr_async_suspend(mxhr_stream *s, apr_time_t wake)
{
    request_rec *r = s->r;
    conn_rec *c = r->connection;
    mxhr_counters *k = mxhr_shared_counters();
    apr_interval_time_t send_timeout;
    mxhr_handle *h;
    apr_status_t rv;

    if (!kick_running(r->server)) {
        return APR_EGENERAL;
    }
    /* [5] A FLUSH to a client that stopped reading would hold this
     * callback's worker, and everyone else's sections, for the whole
     * Timeout: bound it to half the interval. */
    send_timeout = s->set.interval / 2;
    if (send_timeout < MXHR_SEND_TIMEOUT_MIN) {
        send_timeout = MXHR_SEND_TIMEOUT_MIN;
    }
    if (send_timeout > r->server->timeout) {
        send_timeout = r->server->timeout;
    }
    if (s->csd) {
        apr_socket_timeout_set(s->csd, send_timeout);
    }
    h = calloc(1, sizeof(*h));
    if (!h) {
        return APR_ENOMEM;
    }
    h->s = s;
    h->state = H_RUNNING;
    apr_thread_mutex_lock(registry_mutex);
    h->next = live;
    if (live) {
        live->prev = h;
    }
    live = h;
    apr_thread_mutex_unlock(registry_mutex);

    ap_set_module_config(c->conn_config, &mxhr_module, s);
    apr_atomic_set32(&s->suspended, 0);
    apr_atomic_inc32(&child_streams);
    /* From here a timer may run, but it waits for the suspend hook,
     * which runs after this handler has returned. */
    rv = arm(h, wake);
    if (rv != APR_SUCCESS) {
        release(h);
        apr_atomic_dec32(&child_streams);
        ap_set_module_config(c->conn_config, &mxhr_module, NULL);
        if (s->csd) {
            apr_socket_timeout_set(s->csd, r->server->timeout);
        }
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r, MXHR_LOGNO(033)
                      "cannot register a timed callback; streaming on this "
                      "thread");
        return rv;
    }
    if (k) {
        mxhr_shared_gauge(&k->streams_suspended, r->pool);
    }
    check_cap(r);
    return APR_SUCCESS;
}
