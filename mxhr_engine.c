/* mod_mxhr: the push engine (event MPM).
 *
 * The handler sends a stream's headers and first section on its worker
 * thread, hands the stream to this child's engine and returns
 * SUSPENDED. From then on one thread of our own drives every stream of
 * the child:
 *  - a timer heap says which stream is due next; the thread sleeps in
 *    epoll until then, or until a socket or a wake-up (eventfd) needs it;
 *  - plain-HTTP streams are taken over once the MPM has let go: httpd's
 *    request and connection are finished and freed, and the engine
 *    writes the socket itself; TLS streams (and MxhrKeepRequest ones)
 *    keep their connection and are written through its filters;
 *  - writes never block (mxhr_engine_io.c: this file schedules, that
 *    one writes): what the client has not taken yet waits in a
 *    per-stream buffer (and, through the filters, in the core output
 *    filter), bounded by MxhrSendBuffer; a stream over it is dropped as
 *    a slow client;
 *  - epoll reports a client that hangs up, and writability when output
 *    is waiting;
 *  - a graceful stop (child_stopping hook, or the MPM's state) ends
 *    every stream with its closing delimiter at once.
 * No MPM worker is involved between sections, so busy workers (e.g.
 * slow request headers) cannot delay streams, and the MPM's timers and
 * their listener stalls are not used at all.
 *
 * What httpd 2.4 allows here (shared/notes/event-mpm-async.md and
 * engine-and-channels.md): once suspended, the MPM leaves a connection
 * alone until its pool is destroyed, so a single other thread may drive
 * it; 2.4 cannot hand it back, so ending it means finishing the request
 * and destroying the connection's pool, which closes the socket and
 * does the MPM's accounting.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>

#include "apr_portable.h"
#include "apr_strings.h"
#include "apr_thread_proc.h"

#include "httpd.h"
#include "http_config.h"
#include "http_connection.h"
#include "http_core.h"
#include "http_log.h"
#include "http_main.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"
#include "ap_mpm.h"
#include "mpm_common.h"
#include "scoreboard.h"

#include "mxhr_channel.h"
#include "mxhr_drive.h"
#include "mxhr_engine.h"
#include "mxhr_engine_io.h"
#include "mxhr_private.h"
#include "mxhr_store.h"
#include "mxhr_shared.h"

/* The longest the engine sleeps without looking at the MPM's state. */
#define ENGINE_IDLE apr_time_from_msec(250)
/* How long an ended stream may take to drain what it still has queued
 * (its closing delimiter) before it is cut; shorter when stopping. */
#define CLOSE_GRACE apr_time_from_sec(1)
#define CLOSE_GRACE_STOPPING apr_time_from_msec(100)
/* How soon the engine looks again at a stream handed over whose worker
 * has not finished the suspend_connection hooks yet (see "The takeover"
 * below). Not a safety margin: nothing relies on it being long. */
#define SETTLE apr_time_from_msec(5)
/* Sections due close together share one wake-up of the engine: it
 * sleeps until the earliest is this late (at most a tenth of that
 * stream's interval), then sends everything due. Each send to a client
 * asleep in its poll costs a wake-up of the client, mostly charged to
 * the sender; batched, fewer of them happen (measured at 10,000 streams,
 * 1 s: CPU per section 0.0133 s per 1k with 5 ms, 0.0113 with 20 ms,
 * 0.0106 with 50 ms; delay p99 6, 20, 50 ms). */
#define TIMER_SLACK apr_time_from_msec(20)
/* Results per poll; more events wait for the next poll. */
#define POLL_BATCH 1024

/* The worker thread that suspended a connection, as the hook saw it
 * (see worker_done()). */
typedef struct {
    int child, thread;          /* its scoreboard slot; thread -1: unknown */
    apr_uint32_t jobs;          /* thread_jobs[thread] then */
    int status_busy;            /* its scoreboard status was busy then */
} worker_ref;

typedef enum {
    E_LIVE,             /* sections due by the heap */
    E_CLOSING           /* ended; draining its last bytes */
} entry_state;

typedef struct mxhr_entry mxhr_entry;
struct mxhr_entry {
    mxhr_stream *s;
    conn_rec *c;                /* NULL once the socket is ours */
    entry_state state;
    mxhr_io io;                 /* the way to the client */
    apr_uint32_t polled;        /* epoll events registered, 0: none */
    int want_in;                /* watch for the client's EOF */
    apr_size_t hidx;            /* 1-based place in the heap, 0: none */
    apr_time_t due;
    int keep_request;           /* MxhrKeepRequest */
    worker_ref worker;          /* the worker that suspended it */
    apr_time_t handed_at;       /* when the suspend hook ran */
    int retain_ok;              /* its pool owns its own allocator */
    mxhr_entry *prev, *next;    /* the incoming list, then all streams */
    /* A subscription: its place in each channel's list of this child's
     * streams, so that a publish looks at those streams only. */
    struct chan_link *links;
    int nlinks;
    apr_uint32_t mark;          /* collected in this wake already */
};

typedef struct chan_link chan_link;
struct chan_link {
    mxhr_entry *e;
    struct local_chan *lc;
    chan_link *prev, *next;
};

/* A channel some of this child's streams subscribe to. */
typedef struct local_chan local_chan;
struct local_chan {
    apr_uint32_t idx;
    apr_uint32_t mark;          /* collected in this wake already */
    chan_link *head;
    local_chan *next;           /* in its bucket */
};

#define LOCAL_BUCKETS 4096

typedef struct {
    apr_pool_t *pool;           /* the child's */
    apr_thread_mutex_t *mutex;  /* guards incoming */
    mxhr_entry *incoming;       /* handed over, not yet taken */
    int settling;               /* engine thread: some were not ready */
    int epfd;                   /* -1 until the engine runs */
    int evfd;                   /* eventfd: wakes the engine */
    apr_thread_t *thread;
    apr_thread_t *watcher;      /* waits for publishes in any child */
    volatile apr_uint32_t chan_dirty;   /* a channel changed */
    volatile apr_uint32_t state;    /* 0 none, 1 running, 2 failed */
    /* Flags between the engine's threads and the child's (the hook
     * child_stopping, the pool cleanup): set and read with apr_atomic_*
     * (sequentially consistent in APR's builtin atomics), so that a
     * loop sees another thread's write at its next turn, not a value
     * the compiler kept in a register. They hand over no data: what
     * must be ordered is ordered by the eventfd wake-up (a system call)
     * and by apr_thread_join(). */
    volatile apr_uint32_t stop;     /* the child is exiting */
    volatile apr_uint32_t stopping; /* child_stopping: end the streams */
    volatile apr_uint32_t drained;  /* stopping, and no stream left */
    /* Streams of this child per channel bucket, written by the engine,
     * read by the watcher: a publish to a channel nobody here takes
     * does not wake the engine. */
    volatile apr_uint32_t present[LOCAL_BUCKETS];
    /* Engine thread only: */
    local_chan *local[LOCAL_BUCKETS];   /* by channel */
    apr_uint64_t seen_seq;      /* publishes looked at up to here */
    apr_uint32_t seen_deletes;
    apr_uint32_t mark;
    mxhr_entry **due_subs;      /* this wake's streams to pump */
    apr_size_t due_n, due_size;
    mxhr_entry *all;
    struct limbo *limbo;        /* pools cleared, to destroy later */
    int limbo_young;            /* one of them was cleared < 1 s ago */
    mxhr_entry **heap;
    apr_size_t heap_n, heap_size;
} mxhr_engine;

static mxhr_engine engine;
static volatile apr_uint32_t child_streams;  /* adopted, this child */
static double worker_factor = 2.0;           /* AsyncRequestWorkerFactor */
static volatile apr_uint32_t cap_warned;

/* Test only (t/event/80_takeover_race.pl): with MXHR_TEST_WORKER_LAG_MS
 * set in httpd's environment, the worker that suspends a stream clears
 * c->sbh in the suspend_connection hook, as event.c's notify_suspend()
 * does after the hooks, and then lingers that long before it returns:
 * the engine sees what it would see of a worker preempted between
 * notify_suspend()'s two writes (c->sbh = NULL, then cs->suspended = 1
 * into the connection's pool). Meanwhile the connection's pool is listed
 * in lagging[], and destroying a listed pool is logged as an error. */
#define LAG_SLOTS 64
static apr_interval_time_t worker_lag;
static volatile void *lagging[LAG_SLOTS];

/* ---- The timer heap (engine thread only) ---------------------------- */

static void heap_set(apr_size_t i, mxhr_entry *e)
{
    engine.heap[i] = e;
    e->hidx = i + 1;
}

static void heap_up(apr_size_t i)
{
    mxhr_entry *e = engine.heap[i];

    while (i > 0) {
        apr_size_t parent = (i - 1) / 2;

        if (engine.heap[parent]->due <= e->due) {
            break;
        }
        heap_set(i, engine.heap[parent]);
        i = parent;
    }
    heap_set(i, e);
}

static void heap_down(apr_size_t i)
{
    mxhr_entry *e = engine.heap[i];

    for (;;) {
        apr_size_t child = 2 * i + 1;

        if (child >= engine.heap_n) {
            break;
        }
        if (child + 1 < engine.heap_n
            && engine.heap[child + 1]->due < engine.heap[child]->due) {
            child++;
        }
        if (e->due <= engine.heap[child]->due) {
            break;
        }
        heap_set(i, engine.heap[child]);
        i = child;
    }
    heap_set(i, e);
}

static void heap_remove(mxhr_entry *e)
{
    apr_size_t i = e->hidx - 1;
    mxhr_entry *last;

    if (!e->hidx) {
        return;
    }
    e->hidx = 0;
    last = engine.heap[--engine.heap_n];
    if (last != e) {
        heap_set(i, last);
        heap_up(i);
        heap_down(last->hidx - 1);
    }
}

/* Makes room for one more entry in a growing array (*a holds n of
 * *size); 0 on success, -1 when memory runs out. */
static int entries_room(mxhr_entry ***a, apr_size_t n, apr_size_t *size)
{
    if (n == *size) {
        apr_size_t grow = *size ? 2 * *size : 1024;
        mxhr_entry **more = realloc(*a, grow * sizeof(**a));

        if (!more) {
            return -1;
        }
        *a = more;
        *size = grow;
    }
    return 0;
}

/* Schedules e at due; 0 on success, -1 when memory runs out. */
static int heap_put(mxhr_entry *e, apr_time_t due)
{
    heap_remove(e);
    if (entries_room(&engine.heap, engine.heap_n, &engine.heap_size) != 0) {
        return -1;
    }
    e->due = due;
    heap_set(engine.heap_n++, e);
    heap_up(engine.heap_n - 1);
    return 0;
}

/* ---- Output ---------------------------------------------------------- */

int mxhr_engine_plain(conn_rec *c)
{
    return mxhr_io_plain(c);
}

/* Registers the events e needs now: the client's hang-up (and input)
 * while it is live, writability while output waits. */
static void watch(mxhr_entry *e)
{
    apr_uint32_t want = 0;
    struct epoll_event ev;

    if (e->want_in) {
        want |= EPOLLIN | EPOLLRDHUP;
    }
    if (mxhr_io_pending(&e->io)) {
        want |= EPOLLOUT;
    }
    if (want == e->polled) {
        return;
    }
    ev.events = want;
    ev.data.ptr = e;
    if (!want) {
        epoll_ctl(engine.epfd, EPOLL_CTL_DEL, e->io.fd, &ev);
    }
    else if (epoll_ctl(engine.epfd, e->polled ? EPOLL_CTL_MOD
                                              : EPOLL_CTL_ADD,
                       e->io.fd, &ev) != 0) {
        want = 0;
    }
    e->polled = want;
    e->s->eof_watched = (want & EPOLLRDHUP) != 0;
}

/* The client is gone or must go: nothing more is written to it. */
static void entry_abort(mxhr_entry *e, apr_status_t rv)
{
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_TRACE1, rv, e->s->server,
                     MXHR_LOGNO(041) "[client %s] \"%s\": client gone "
                     "while writing", e->s->client, e->s->what);
    }
    if (e->c) {
        e->c->aborted = 1;
    }
    e->s->aborted = 1;
}

/* Writes what the socket takes now. */
static mxhr_end_reason entry_flush(mxhr_entry *e)
{
    apr_status_t rv = mxhr_io_flush(&e->io);

    if (rv != APR_SUCCESS || (e->c && e->c->aborted)) {
        entry_abort(e, rv);
        return MXHR_END_CLIENT;
    }
    watch(e);
    return MXHR_END_NONE;
}

/* The sink of the streams the engine holds (s->sink): queues the
 * buffers for the stream's client, as one piece, and writes what the
 * socket takes now. Engine thread only. Returns MXHR_END_NONE, or why
 * the stream must end (its send buffer overflowed, the client is gone). */
static mxhr_end_reason engine_writev(mxhr_stream *s, const struct iovec *iov,
                                     int n)
{
    mxhr_entry *e = s->sink_ctx;
    apr_size_t pending = mxhr_io_pending(&e->io), len = 0;
    apr_status_t rv;
    int i;

    if (s->aborted || (e->c && e->c->aborted)) {
        return MXHR_END_CLIENT;
    }
    switch (mxhr_io_writev(&e->io, iov, n, &rv)) {
    case MXHR_IO_OK:
        if (e->c && e->c->aborted) {
            entry_abort(e, APR_SUCCESS);
            return MXHR_END_CLIENT;
        }
        /* The socket is full, or was already: wait until it is
         * writable (nothing to do in the usual case, all sent). */
        watch(e);
        return MXHR_END_NONE;
    case MXHR_IO_FULL:
        for (i = 0; i < n; i++) {
            len += iov[i].iov_len;
        }
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s->server, MXHR_LOGNO(042)
                     "[client %s] \"%s\": %" APR_SIZE_T_FMT " bytes not "
                     "taken yet, %" APR_SIZE_T_FMT " more would exceed "
                     "MxhrSendBuffer (%" APR_SIZE_T_FMT "): the client is "
                     "not reading; dropping it", s->client, s->what,
                     pending, len, e->io.limit);
        entry_abort(e, APR_SUCCESS);
        return MXHR_END_SLOW;
    case MXHR_IO_NOMEM:
        entry_abort(e, rv);
        return MXHR_END_ERROR;
    default:
        entry_abort(e, rv);
        return MXHR_END_CLIENT;
    }
}

/* ---- Streams coming and going ---------------------------------------- */

static void list_remove(mxhr_entry *e)
{
    if (e->prev) {
        e->prev->next = e->next;
    }
    else {
        engine.all = e->next;
    }
    if (e->next) {
        e->next->prev = e->prev;
    }
    e->prev = e->next = NULL;
}

static local_chan *local_find(apr_uint32_t idx, int make)
{
    local_chan **b = &engine.local[idx % LOCAL_BUCKETS], *lc;

    for (lc = *b; lc; lc = lc->next) {
        if (lc->idx == idx) {
            return lc;
        }
    }
    if (!make || !(lc = calloc(1, sizeof(*lc)))) {
        return NULL;
    }
    lc->idx = idx;
    lc->next = *b;
    *b = lc;
    return lc;
}

/* Puts a subscription's stream in its channels' lists; 0 on success. */
static int index_add(mxhr_entry *e)
{
    const mxhr_chan_ref *refs;
    int n = mxhr_sub_channels(e->s->sub, &refs), i;

    e->links = calloc(n, sizeof(chan_link));
    if (!e->links) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        local_chan *lc = local_find(refs[i].idx, 1);
        chan_link *l = &e->links[i];

        if (!lc) {
            return -1;
        }
        apr_atomic_inc32(&engine.present[refs[i].idx % LOCAL_BUCKETS]);
        l->e = e;
        l->lc = lc;
        l->next = lc->head;
        if (lc->head) {
            lc->head->prev = l;
        }
        lc->head = l;
        e->nlinks++;
    }
    return 0;
}

static void index_remove(mxhr_entry *e)
{
    int i;

    for (i = 0; i < e->nlinks; i++) {
        chan_link *l = &e->links[i];
        local_chan *lc = l->lc;

        apr_atomic_dec32(&engine.present[lc->idx % LOCAL_BUCKETS]);
        if (l->prev) {
            l->prev->next = l->next;
        }
        else {
            lc->head = l->next;
        }
        if (l->next) {
            l->next->prev = l->prev;
        }
        if (!lc->head) {
            local_chan **b = &engine.local[lc->idx % LOCAL_BUCKETS];

            while (*b != lc) {
                b = &(*b)->next;
            }
            *b = lc->next;
            free(lc);
        }
    }
    free(e->links);
    e->links = NULL;
    e->nlinks = 0;
}

/* ---- The takeover ------------------------------------------------------
 *
 * The engine may free a suspended connection's pool (c->pool, event.c's
 * "ptrans") only once the worker thread that suspended it has stopped
 * touching it. What that worker does after our suspend_connection hook
 * (httpd's 2.4.x branch, server/mpm/event/event.c; the installed
 * 2.4.71's mod_mpm_event.so, disassembled, makes the same stores in the
 * same order):
 *   process_socket(), CONN_STATE_SUSPENDED:
 *       apr_atomic_inc32(&suspended_count); notify_suspend(cs); return;
 *   notify_suspend(): ap_run_suspend_connection(c, r);  (our hook, and
 *       any hook after it)  cs->c->sbh = NULL;  cs->suspended = 1;
 *   worker_thread(), once process_socket() has returned: the deferred
 *       lingering closes of other connections (each through
 *       process_socket() -> notify_resume() -> the resume_connection
 *       hooks), then ap_queue_info_set_idle() (an atomic increment),
 *       then ap_update_child_status_from_indexes(its slot, dying ?
 *       SERVER_GRACEFUL : SERVER_READY), then it waits for its next job.
 * cs, which cs->suspended = 1 writes into, is allocated from c->pool.
 * Seeing c->sbh == NULL says the hooks are over, not that this last
 * write is done: a worker preempted between the two writes would write
 * into freed memory (the old 5 ms wait made that unlikely only).
 *
 * Two facts make it impossible:
 *
 * 1. The worker is provably done (worker_done()) once, after the hook,
 *    either
 *    - its scoreboard status reads SERVER_READY or SERVER_DEAD. In the
 *      event MPM only the worker itself writes SERVER_READY to its slot
 *      (worker_thread(), after process_socket() has returned), and
 *      SERVER_DEAD when it exits (others write SERVER_DEAD only for a
 *      dead child, SERVER_GRACEFUL to all slots while dying: so
 *      SERVER_GRACEFUL proves nothing and is not used). At the hook the
 *      status is busy (core_create_conn() and the HTTP/1 connection
 *      handler set SERVER_BUSY_READ/WRITE before any handler runs); we
 *      check it, and use the status only when it was. Or
 *    - the worker has started another job: every later process_socket()
 *      on that thread runs the create_connection hooks (a new
 *      connection) or the resume_connection hooks (any other), where we
 *      count jobs per thread slot (thread_jobs). Our suspend hook runs
 *      last (APR_HOOK_REALLY_LAST): between it and the end of
 *      process_socket() that thread runs no hook of anyone's (but one
 *      also asking to run last), so it counts no job there.
 *    Both writes come after cs->suspended = 1 in program order and after
 *    an atomic read-modify-write (a full barrier) by that thread; the
 *    engine reads them, then fences (acquire) before freeing.
 * 2. Until then the engine never frees the memory, yet need not wait
 *    for it: it waits for worker_done() up to SETTLE (usually a matter
 *    of microseconds), then takes the stream all the same, and ends its
 *    connection, if it must before the worker is done, without freeing
 *    memory (conn_release()). event.c gives every ptrans an allocator
 *    of its own (listener_thread(): apr_allocator_create(), then
 *    apr_allocator_owner_set(allocator, ptrans)), and c->pool is ptrans
 *    (core_create_conn()). With that allocator's max_free set to 0
 *    ("unlimited": it never gives a block back to the system),
 *    apr_pool_clear(c->pool) runs every cleanup (the socket is closed,
 *    the MPM's accounting done, subpools destroyed) while every block
 *    stays mapped, owned by an allocator nothing allocates from any
 *    more: a late cs->suspended = 1 lands in memory nobody uses. The
 *    pool itself is destroyed later, once worker_done() (limbo_sweep()).
 *    If the allocator is not the pool's own (not so in 2.4.x), the
 *    engine does not take the stream until worker_done(); if the
 *    worker's slot cannot be found (not so either), its pool stays
 *    allocated until the child exits rather than be freed too soon.
 * Whatever the scheduler does, no write of the worker's reaches freed
 * memory. (With the test knob MXHR_TEST_WORKER_LAG_MS a worker lingers
 * in the hook on purpose: t/event/80_takeover_race.pl.)
 */

/* Jobs started per worker thread slot of this child (see above). */
static volatile apr_uint32_t *thread_jobs;
static int server_limit, thread_limit;
/* This thread's scoreboard slot, once our suspend hook has looked. */
static __thread int my_child = -1, my_thread = -1;

/* A pool cleared, to destroy once its worker is done. */
typedef struct limbo limbo;
struct limbo {
    limbo *next;
    apr_pool_t *pool;
    worker_ref worker;
    apr_time_t since;           /* when it was cleared */
};

/* A worker done with its job is seen within a few ms: look every
 * SETTLE for a second, then every second (a worker that never shows it,
 * one seen idle while its child stops, must not keep the engine
 * spinning until the child exits). */
#define LIMBO_FAST apr_time_from_sec(1)

static worker_score *slot_score(int child, int thread)
{
    return ap_get_scoreboard_worker_from_indexes(child, thread);
}

/* Finds the calling worker's scoreboard slot (its tid is there). */
static void find_my_slot(conn_rec *c)
{
    apr_os_thread_t self = apr_os_thread_current();
    pid_t pid = getpid();
    int i, t;

    if (!thread_jobs || !ap_scoreboard_image) {
        return;
    }
    /* process_socket() names a connection after its worker's slot:
     * c->id = child * ThreadLimit + thread. Checked, not trusted. */
    if (c->id >= 0) {
        i = (int)(c->id / thread_limit);
        t = (int)(c->id % thread_limit);
        if (i < server_limit && ap_scoreboard_image->parent[i].pid == pid
            && apr_os_thread_equal(slot_score(i, t)->tid, self)) {
            my_child = i;
            my_thread = t;
            return;
        }
    }
    for (i = 0; i < server_limit; i++) {
        if (ap_scoreboard_image->parent[i].pid != pid) {
            continue;
        }
        for (t = 0; t < thread_limit; t++) {
            if (apr_os_thread_equal(slot_score(i, t)->tid, self)) {
                my_child = i;
                my_thread = t;
                return;
            }
        }
    }
}

/* In the suspend hook, on the worker: which worker, and how far. */
static void note_worker(conn_rec *c, worker_ref *w)
{
    w->child = w->thread = -1;
    if (my_thread < 0) {
        find_my_slot(c);
    }
    if (my_thread >= 0) {
        unsigned char st = slot_score(my_child, my_thread)->status;

        w->child = my_child;
        w->thread = my_thread;
        w->jobs = apr_atomic_read32(&thread_jobs[my_thread]);
        w->status_busy = st != SERVER_READY && st != SERVER_DEAD;
    }
}

/* On a worker: it starts a job (create_connection, resume_connection).
 * Only threads that suspended a stream of ours know their slot. */
static void worker_starts_job(void)
{
    if (my_thread >= 0) {
        apr_atomic_inc32(&thread_jobs[my_thread]);
    }
}

/* Why a worker is done (see worker_done()). */
#define WORKER_RUNS     0
#define WORKER_IDLE     1       /* SERVER_READY or SERVER_DEAD */
#define WORKER_NEXT_JOB 2       /* it started another job */

/* Not WORKER_RUNS once the worker w has returned from the
 * process_socket() in which it suspended the connection, so it will not
 * touch its pool again; then says how that is known. */
static int worker_done(const worker_ref *w)
{
    int done = WORKER_RUNS;

    if (w->thread >= 0) {
        volatile worker_score *ws = slot_score(w->child, w->thread);
        unsigned char st = ws->status;

        if (apr_atomic_read32(&thread_jobs[w->thread]) != w->jobs) {
            done = WORKER_NEXT_JOB;
        }
        else if (w->status_busy
                 && (st == SERVER_READY || st == SERVER_DEAD)) {
            done = WORKER_IDLE;
        }
    }
    /* What the worker wrote before is visible to what we do next. */
    atomic_thread_fence(memory_order_acquire);
    return done;
}

/* Frees a connection's pool (test knob: says so when its worker has
 * not let go yet). */
static void conn_pool_destroy(apr_pool_t *p, server_rec *s)
{
    int i;

    for (i = 0; worker_lag && i < LAG_SLOTS; i++) {
        if (apr_atomic_casptr(&lagging[i], p, p) == p) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, MXHR_LOGNO(046)
                         "test: the pool of a connection is freed while "
                         "the worker that suspended it still runs");
        }
    }
    apr_pool_destroy(p);
}

/* Ends a connection's pool: its cleanups run now (the socket closes,
 * the MPM does its accounting); its memory is freed now when its worker
 * is done, else once it is (see "The takeover"). */
static void conn_release(const mxhr_entry *e, apr_pool_t *p, server_rec *s)
{
    limbo *l;

    if (!e->retain_ok || worker_done(&e->worker)) {
        /* (take_incoming() took it only if one of them holds) */
        conn_pool_destroy(p, s);
        return;
    }
    apr_allocator_max_free_set(apr_pool_allocator_get(p), 0);
    l = malloc(sizeof(*l));
    apr_pool_clear(p);
    if (!l) {
        /* Never freed rather than freed too soon. */
        ap_log_error(APLOG_MARK, APLOG_ERR, APR_ENOMEM, s, MXHR_LOGNO(047)
                     "cannot remember a connection's pool to free later; "
                     "it stays allocated until the child exits");
        return;
    }
    l->pool = p;
    l->worker = e->worker;
    l->since = apr_time_now();
    l->next = engine.limbo;
    engine.limbo = l;
    engine.limbo_young = 1;
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, MXHR_LOGNO(048)
                 "the worker that suspended a connection still runs: its "
                 "pool is cleared, and freed once the worker is done");
}

/* Destroys the pools in limbo whose workers are done now; notes
 * whether one left is young (looked at every SETTLE). */
static void limbo_sweep(apr_time_t now)
{
    limbo **lp = &engine.limbo, *l;
    int why;

    engine.limbo_young = 0;
    while ((l = *lp) != NULL) {
        if ((why = worker_done(&l->worker)) != WORKER_RUNS) {
            *lp = l->next;
            conn_pool_destroy(l->pool, ap_server_conf);
            free(l);
            ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, ap_server_conf,
                         MXHR_LOGNO(049) "a connection's pool is freed: "
                         "the worker that suspended it is done (%s)",
                         why == WORKER_IDLE ? "idle or gone"
                                            : "on its next job");
        }
        else {
            if (now - l->since < LIMBO_FAST) {
                engine.limbo_young = 1;
            }
            lp = &l->next;
        }
    }
}

/* The end of a stream's connection: 2.4 cannot give a suspended
 * connection back to the MPM, so the request is finished as any other
 * (EOS, then EOR, which logs it and frees r->pool), our side closed, and
 * the connection's pool destroyed, whose cleanups close the socket and
 * do the MPM's accounting. */
static void entry_finish(mxhr_entry *e)
{
    mxhr_stream *s = e->s;
    conn_rec *c = e->c;

    if (e->polled) {
        struct epoll_event ev;

        epoll_ctl(engine.epfd, EPOLL_CTL_DEL, e->io.fd, &ev);
        e->polled = 0;
    }
    heap_remove(e);
    list_remove(e);
    index_remove(e);
    apr_atomic_dec32(&child_streams);
    if (e->io.owned) {
        mxhr_io_close(&e->io, !s->aborted);
        mxhr_shared_release(&s->hold);
        mxhr_stream_drop_sub(s);
        free(s);
        free(e);
        return;
    }
    if (s->r) {
        mxhr_stream_detach(s);
    }
    ap_start_lingering_close(c);
    /* Counted as suspended by the MPM until now. */
    if (c->cs) {
        c->cs->state = CONN_STATE_SUSPENDED;
    }
    /* The stream's place and gauges go with the pool. */
    conn_release(e, c->pool, s->server);
    free(e);
}

/* Takes the socket over from httpd: the request is logged and finished,
 * the connection's pool destroyed (its memory and the MPM's accounting
 * of it go), and the stream lives on in a malloc'd copy on a duplicate
 * of the socket. 0 on success; on failure nothing has changed. */
static int entry_own(mxhr_entry *e)
{
    mxhr_stream *s = e->s, *o;
    conn_rec *c = e->c;
    apr_os_sock_t osd;
    int fd;

    if (apr_os_sock_get(&osd, s->csd) != APR_SUCCESS
        || (fd = fcntl(osd, F_DUPFD_CLOEXEC, 0)) < 0) {
        return -1;
    }
    o = mxhr_stream_own(s);
    if (!o) {
        close(fd);
        return -1;
    }
    o->sink_ctx = e;
    o->sink = engine_writev;
    e->s = o;
    mxhr_io_own(&e->io, fd);
    e->c = NULL;
    if (s->r) {
        /* The access log line is written now, with what was sent so
         * far. */
        mxhr_stream_detach(s);
    }
    /* Closes httpd's descriptor (ours stays open) and runs the MPM's
     * accounting, as for any connection that ends. */
    conn_release(e, c->pool, o->server);
    return 0;
}

/* The stream has ended (s->ended says why): let its last bytes drain,
 * within a bound, then finish it. */
static void entry_ended(mxhr_entry *e, apr_time_t now)
{
    conn_rec *c = e->c;

    if (!e->s->aborted && !(c && c->aborted) && mxhr_io_pending(&e->io)) {
        apr_time_t grace = apr_atomic_read32(&engine.stopping)
                           ? CLOSE_GRACE_STOPPING : CLOSE_GRACE;

        e->state = E_CLOSING;
        e->want_in = 0;
        watch(e);
        if (heap_put(e, now + grace) == 0) {
            return;
        }
    }
    entry_finish(e);
}

/* Does what is due for e (its section, its limits). */
static void entry_step(mxhr_entry *e, apr_time_t now)
{
    apr_time_t wake;

    if (e->state == E_CLOSING) {
        /* Did not drain in time: cut it. */
        entry_abort(e, APR_SUCCESS);
        entry_finish(e);
        return;
    }
    wake = mxhr_drive_step(e->s, now);
    if (wake && heap_put(e, wake) == 0) {
        return;
    }
    if (wake) {
        ap_log_error(APLOG_MARK, APLOG_ERR, APR_ENOMEM, e->s->server,
                     MXHR_LOGNO(043) "[client %s] cannot schedule \"%s\"; "
                     "ending it", e->s->client, e->s->what);
        mxhr_stream_close(e->s, MXHR_END_ERROR);
    }
    entry_ended(e, now);
}

/* The client hung up, or sent something (a pipelined request): only
 * the first ends the stream. */
static void entry_readable(mxhr_entry *e, apr_uint32_t events)
{
    if (!(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
        if (e->io.owned) {
            if (mxhr_io_discard_input(&e->io) == APR_SUCCESS) {
                /* Nothing reads it: a request behind the stream is
                 * answered by its closing (Connection: close). */
                return;
            }
        }
        else {
            int eof = 0;

            if (apr_socket_atreadeof(e->s->csd, &eof) == APR_SUCCESS
                && !eof) {
                /* Data for httpd's filters: stop polling for it (it
                 * would fire again and again); the stream checks for
                 * EOF at each step instead. */
                e->want_in = 0;
                watch(e);
                return;
            }
        }
    }
    entry_abort(e, APR_SUCCESS);
    if (e->state == E_LIVE) {
        mxhr_stream_end(e->s, MXHR_END_CLIENT);
    }
    entry_finish(e);
}

static void entry_writable(mxhr_entry *e)
{
    if (entry_flush(e) != MXHR_END_NONE) {
        if (e->state == E_LIVE) {
            mxhr_stream_end(e->s, MXHR_END_CLIENT);
        }
        entry_finish(e);
        return;
    }
    if (e->state == E_CLOSING && !mxhr_io_pending(&e->io)) {
        entry_finish(e);
    }
}

/* Pumps one subscription (cache shared within the wake). */
static void pump_entry(mxhr_entry *e, mxhr_fetch_cache *fc, apr_time_t now)
{
    if (e->state != E_LIVE || !e->s->sub || !mxhr_sub_pending(e->s->sub)) {
        return;
    }
    mxhr_sub_pump(e->s, fc);
    if (e->s->ended) {
        heap_remove(e);
        entry_ended(e, now);
    }
}

/* Takes the streams whose connections the MPM has let go of. */
static void take_incoming(apr_time_t now)
{
    mxhr_entry *e, *next, *later = NULL;

    apr_thread_mutex_lock(engine.mutex);
    e = engine.incoming;
    engine.incoming = NULL;
    apr_thread_mutex_unlock(engine.mutex);

    engine.settling = 0;
    for (; e; e = next) {
        next = e->next;
        /* c->sbh NULL: every suspend_connection hook has returned. Its
         * pool may be released now (see "The takeover"); its worker
         * usually is done within SETTLE, then the pool need not wait
         * in limbo. */
        if (*(void *volatile *)&e->c->sbh != NULL
            || !(worker_done(&e->worker)
                 || (e->retain_ok && now - e->handed_at >= SETTLE))) {
            e->next = later;
            later = e;
            continue;
        }
        e->prev = NULL;
        e->next = engine.all;
        if (engine.all) {
            engine.all->prev = e;
        }
        engine.all = e;
        /* Plain TCP (only our filter and the core's), and no need for
         * the request: the socket is ours. Else (TLS, MxhrKeepRequest)
         * through the connection's filters. */
        if (e->keep_request || e->c->data_in_output_filters
            || !mxhr_engine_plain(e->c) || entry_own(e) != 0) {
            apr_os_sock_t osd;
            apr_status_t rv;

            if (!e->keep_request) {
                mxhr_stream_detach(e->s);
            }
            rv = apr_os_sock_get(&osd, e->s->csd);
            if (rv != APR_SUCCESS) {
                /* Nothing to poll: the stream cannot go on. */
                ap_log_error(APLOG_MARK, APLOG_ERR, rv, e->s->server,
                             MXHR_LOGNO(044) "[client %s] \"%s\": cannot "
                             "get the socket's descriptor; ending the "
                             "stream", e->s->client, e->s->what);
                entry_abort(e, APR_SUCCESS);
                mxhr_stream_end(e->s, MXHR_END_ERROR);
                entry_finish(e);
                continue;
            }
            e->io.fd = osd;
        }
        e->want_in = 1;
        watch(e);
        if ((e->s->sub && index_add(e) != 0) || heap_put(e, e->due) != 0) {
            mxhr_stream_close(e->s, MXHR_END_ERROR);
            entry_ended(e, now);
        }
        else if (e->s->sub) {
            /* What was published while it was handed over. */
            pump_entry(e, NULL, now);
        }
    }
    if (later) {
        engine.settling = 1;
        apr_thread_mutex_lock(engine.mutex);
        for (e = later; e; e = next) {
            next = e->next;
            e->next = engine.incoming;
            engine.incoming = e;
        }
        apr_thread_mutex_unlock(engine.mutex);
    }
}

/* Collects e for this wake's pumping, once. */
static int due_add(mxhr_entry *e)
{
    if (e->mark == engine.mark) {
        return 0;
    }
    if (entries_room(&engine.due_subs, engine.due_n, &engine.due_size)
        != 0) {
        return -1;
    }
    e->mark = engine.mark;
    engine.due_subs[engine.due_n++] = e;
    return 0;
}

/* Calls each(channel, ctx) for the channel of every publish after
 * *seen, up to the store's newest, until each() returns non-zero; then
 * moves *seen and *deletes on. Returns 1 when every stream must be
 * looked at: a delete, more publishes than the store remembers, or
 * each() said so. */
static int for_changed(apr_uint64_t *seen, apr_uint32_t *deletes,
                       int (*each)(apr_uint32_t idx, void *ctx), void *ctx)
{
    apr_uint32_t d = mxhr_store_deletes();
    apr_uint64_t last = mxhr_store_last_seq(), q;
    int all = d != *deletes || last - *seen > MXHR_STORE_CHANGES;

    for (q = *seen + 1; !all && q <= last; q++) {
        apr_uint32_t idx;

        /* Mirroring Redis, a seq may have gone to no channel here. */
        all = !mxhr_store_changed(q, &idx)
              || (idx != MXHR_STORE_NO_CHAN && each(idx, ctx));
    }
    *seen = last;
    *deletes = d;
    return all;
}

/* Collects the streams of this child on channel idx (once per wake);
 * non-zero when memory runs out. */
static int collect_channel(apr_uint32_t idx, void *ctx)
{
    local_chan *lc = local_find(idx, 0);
    chan_link *l;

    if (!lc || lc->mark == engine.mark) {
        return 0;
    }
    lc->mark = engine.mark;
    for (l = lc->head; l; l = l->next) {
        if (due_add(l->e) != 0) {
            return 1;
        }
    }
    return 0;
}

/* Sends what is new in their channels to the subscriptions. The store
 * says which channels the last publishes went to: only their streams
 * are looked at; after a delete, or too many publishes to follow, all
 * of them are. Each channel's messages are copied out of the store
 * once per wake and shared by its streams. */
static void pump_subs(apr_time_t now)
{
    mxhr_fetch_cache *fc = mxhr_fetch_cache_create();
    mxhr_entry *e, *next;
    apr_size_t i;
    int all;

    engine.mark++;
    engine.due_n = 0;
    all = for_changed(&engine.seen_seq, &engine.seen_deletes,
                      collect_channel, NULL);
    if (all) {
        for (e = engine.all; e; e = next) {
            next = e->next;
            pump_entry(e, fc, now);
        }
    }
    else {
        /* An entry pumped may end and go; each is in the list once. */
        for (i = 0; i < engine.due_n; i++) {
            pump_entry(engine.due_subs[i], fc, now);
        }
    }
    mxhr_fetch_cache_destroy(fc);
}

/* Non-zero when a stream of this child may take channel idx. */
static int served_here(apr_uint32_t idx, void *ctx)
{
    return apr_atomic_read32(&engine.present[idx % LOCAL_BUCKETS]) != 0;
}

/* Waits on the store's futex word: a publish or delete in any child
 * wakes it, and it wakes the engine when one of this child's streams
 * may be concerned. A stream that joins meanwhile looks for itself
 * (take_incoming). */
static void *APR_THREAD_FUNC watcher_main(apr_thread_t *thd, void *data)
{
    apr_uint32_t seen = mxhr_store_epoch(), deletes = mxhr_store_deletes();
    apr_uint64_t seen_seq = mxhr_store_last_seq();

    while (!apr_atomic_read32(&engine.stop)) {
        apr_uint32_t now;

        mxhr_store_wait(seen, apr_time_from_sec(1));
        now = mxhr_store_epoch();
        if (now != seen) {
            seen = now;
            if (for_changed(&seen_seq, &deletes, served_here, NULL)) {
                apr_atomic_set32(&engine.chan_dirty, 1);
                mxhr_engine_wake();
            }
        }
    }
    apr_thread_exit(thd, APR_SUCCESS);
    return NULL;
}

/* A graceful restart or stop: the old child waits for its connections,
 * so end every stream now, with its closing delimiter. */
static void end_all(apr_time_t now)
{
    mxhr_entry *e, *next;

    for (e = engine.all; e; e = next) {
        next = e->next;
        if (e->state == E_LIVE) {
            mxhr_stream_close(e->s, MXHR_END_SHUTDOWN);
            entry_ended(e, now);
        }
    }
}

static void *APR_THREAD_FUNC engine_main(apr_thread_t *thd, void *data)
{
    struct epoll_event *ev = malloc(POLL_BATCH * sizeof(*ev));

    while (ev && !apr_atomic_read32(&engine.stop)) {
        apr_time_t now = apr_time_now();
        apr_interval_time_t timeout = ENGINE_IDLE;
        int n, i;

        if (engine.heap_n) {
            mxhr_entry *top = engine.heap[0];
            apr_interval_time_t slack = top->s->set.interval / 10, d;

            if (slack > TIMER_SLACK) {
                slack = TIMER_SLACK;
            }
            d = top->due + slack - now;
            timeout = d < 0 ? 0 : (d < timeout ? d : timeout);
        }
        if ((engine.settling || engine.limbo_young) && timeout > SETTLE) {
            timeout = SETTLE;
        }
        else if (engine.limbo && timeout > LIMBO_FAST) {
            timeout = LIMBO_FAST;
        }
        /* epoll counts whole milliseconds: round up, or a timer due in
         * 0.7 ms would spin the loop until then. */
        n = epoll_wait(engine.epfd, ev, POLL_BATCH,
                       (int)((timeout + 999) / 1000));
        now = apr_time_now();
        for (i = 0; i < n; i++) {
            mxhr_entry *e = ev[i].data.ptr;

            if (!e) {
                apr_uint64_t v;

                if (read(engine.evfd, &v, sizeof(v)) < 0) {
                    /* nothing to read: woken already */
                }
                continue;
            }
            if (ev[i].events & EPOLLOUT) {
                entry_writable(e);
            }
            else {
                entry_readable(e, ev[i].events);
            }
            /* e may be gone: later results never name it again, since
             * one epoll_wait reports each descriptor once. */
        }
        take_incoming(now);
        if (engine.limbo) {
            limbo_sweep(now);
        }
        if (apr_atomic_xchg32(&engine.chan_dirty, 0)) {
            pump_subs(now);
        }
        if (apr_atomic_read32(&engine.stopping) || mxhr_mpm_stopping()) {
            apr_atomic_set32(&engine.stopping, 1);
            end_all(now);
        }
        while (engine.heap_n && engine.heap[0]->due <= now) {
            mxhr_entry *e = engine.heap[0];

            heap_remove(e);
            entry_step(e, now);
        }
        if (apr_atomic_read32(&engine.stopping) && !engine.all
            && !engine.settling) {
            apr_atomic_set32(&engine.drained, 1);
        }
    }
    free(ev);
    apr_thread_exit(thd, APR_SUCCESS);
    return NULL;
}

/* A pre-cleanup of the child's pool, so that the thread is gone before
 * what it uses. httpd no longer counts the streams whose sockets the
 * engine owns, so the child may get here with streams open: end them
 * (closing delimiter) first, within a bound. */
static apr_status_t engine_cleanup(void *data)
{
    apr_status_t rv;
    int i;

    if (engine.thread) {
        apr_atomic_set32(&engine.stopping, 1);
        mxhr_engine_wake();
        for (i = 0; i < 150 && !apr_atomic_read32(&engine.drained); i++) {
            apr_sleep(apr_time_from_msec(10));
        }
        apr_atomic_set32(&engine.stop, 1);
        mxhr_engine_wake();
        apr_thread_join(&rv, engine.thread);
        engine.thread = NULL;
    }
    if (engine.watcher) {
        apr_atomic_set32(&engine.stop, 1);
        mxhr_store_wake_all();
        apr_thread_join(&rv, engine.watcher);
        engine.watcher = NULL;
    }
    free(engine.due_subs);
    engine.due_subs = NULL;
    return APR_SUCCESS;
}

/* Started by the first stream, when the MPM surely runs; the others
 * wait for it on the mutex, so none sees a half-made engine. */
static int engine_running(server_rec *s)
{
    apr_status_t rv = APR_SUCCESS;

    if (apr_atomic_read32(&engine.state) != 0) {
        return apr_atomic_read32(&engine.state) == 1;
    }
    apr_thread_mutex_lock(engine.mutex);
    if (apr_atomic_read32(&engine.state) == 0) {
        struct epoll_event ev;

        engine.epfd = epoll_create1(EPOLL_CLOEXEC);
        engine.evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        ev.events = EPOLLIN;
        ev.data.ptr = NULL;
        if (engine.epfd < 0 || engine.evfd < 0
            || epoll_ctl(engine.epfd, EPOLL_CTL_ADD, engine.evfd, &ev) != 0) {
            rv = errno;
        }
        if (rv == APR_SUCCESS) {
            rv = apr_thread_create(&engine.thread, NULL, engine_main, NULL,
                                   engine.pool);
        }
        if (rv == APR_SUCCESS && mxhr_store_ready()
            && apr_thread_create(&engine.watcher, NULL, watcher_main, NULL,
                                 engine.pool) != APR_SUCCESS) {
            /* Subscriptions then see publishes at their next step. */
            engine.watcher = NULL;
        }
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, MXHR_LOGNO(030)
                         "cannot start the push engine; streams in this "
                         "child hold a thread each");
            /* No thread uses them: the engine never starts in this
             * child (and engine_cleanup() has no thread to join). */
            engine.thread = NULL;
            if (engine.evfd >= 0) {
                close(engine.evfd);
                engine.evfd = -1;
            }
            if (engine.epfd >= 0) {
                close(engine.epfd);
                engine.epfd = -1;
            }
            apr_atomic_set32(&engine.state, 2);
        }
        else {
            apr_atomic_set32(&engine.state, 1);
        }
    }
    apr_thread_mutex_unlock(engine.mutex);
    return apr_atomic_read32(&engine.state) == 1;
}

void mxhr_engine_wake(void)
{
    if (apr_atomic_read32(&engine.state) == 1) {
        apr_uint64_t one = 1;

        if (write(engine.evfd, &one, sizeof(one)) < 0) {
            /* the counter is full: the engine is awake anyway */
        }
    }
}

void mxhr_engine_child_init(apr_pool_t *pchild, server_rec *s)
{
    memset(&engine, 0, sizeof(engine));
    engine.epfd = engine.evfd = -1;
    child_streams = 0;
    cap_warned = 0;
    worker_lag = 0;
    if (getenv("MXHR_TEST_WORKER_LAG_MS")) {
        worker_lag = apr_time_from_msec(
            atoi(getenv("MXHR_TEST_WORKER_LAG_MS")) % 10000);
    }
    if (apr_thread_mutex_create(&engine.mutex, APR_THREAD_MUTEX_DEFAULT,
                                pchild) != APR_SUCCESS) {
        return;                 /* no engine in this child */
    }
    engine.pool = pchild;
    apr_pool_pre_cleanup_register(pchild, NULL, engine_cleanup);
    thread_jobs = NULL;
    if (ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &server_limit) == APR_SUCCESS
        && ap_mpm_query(AP_MPMQ_HARD_LIMIT_THREADS, &thread_limit)
           == APR_SUCCESS
        && server_limit > 0 && thread_limit > 0) {
        thread_jobs = apr_pcalloc(pchild, thread_limit * sizeof(apr_uint32_t));
    }
}

/* ---- The handler's side ---------------------------------------------- */

/* The event MPM does not export AsyncRequestWorkerFactor; read it from
 * the configuration tree, wherever it is. */
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

void mxhr_engine_post_config(server_rec *s)
{
    worker_factor = 2.0;
    find_worker_factor(ap_conftree);
}

int mxhr_engine_possible(request_rec *r, const mxhr_srv_conf *sc)
{
#if APR_HAS_THREADS
    conn_rec *c = r->connection;
    int async = 0;

    if (sc->async == 0 || !engine.pool) {
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

/* The event MPM stops accepting connections in a child holding more
 * than ThreadsPerChild + idle threads x AsyncRequestWorkerFactor, and
 * streams count as connections: a stream beyond that would wait in the
 * listen queue unseen. Refuse it instead (the handler answers 503), and
 * say once, with the numbers, what to raise. */
apr_uint32_t mxhr_engine_full(request_rec *r)
{
    int threads = 0;
    apr_uint32_t n = apr_atomic_read32(&child_streams);
    apr_uint32_t cap;

    if (ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads) != APR_SUCCESS
        || threads <= 0) {
        return 0;
    }
    /* Leaves ThreadsPerChild connections for other traffic. */
    cap = (apr_uint32_t)(threads * worker_factor);
    if (n < cap) {
        return 0;
    }
    if (apr_atomic_cas32(&cap_warned, 1, 0) == 0) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, MXHR_LOGNO(031)
                      "this child holds %u suspended streams, as many as "
                      "ThreadsPerChild x AsyncRequestWorkerFactor (%d x %g) "
                      "allows: further streams get 503 in this child; "
                      "raise AsyncRequestWorkerFactor to at least (streams "
                      "per child / ThreadsPerChild) + 1, e.g. %d, or add "
                      "children", n, threads, worker_factor,
                      (int)(2 * n / threads) + 1);
    }
    return n;
}

/* The test knob (see worker_lag): runs on the worker, in the hook. */
static void lag_like_a_preempted_worker(conn_rec *c)
{
    apr_pool_t *p = c->pool;
    int i;

    for (i = 0; i < LAG_SLOTS
                && apr_atomic_casptr(&lagging[i], p, NULL) != NULL; i++) {
        /* the next slot */
    }
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, c->base_server, MXHR_LOGNO(045)
                 "test: the worker lingers %" APR_TIME_T_FMT " ms after "
                 "suspending the connection", apr_time_as_msec(worker_lag));
    c->sbh = NULL;
    /* From here on c and p may be the engine's: only p's address is
     * used. */
    apr_sleep(worker_lag);
    if (i < LAG_SLOTS) {
        apr_atomic_casptr(&lagging[i], NULL, p);
    }
}

/* Once the MPM has let go of the connection (this hook), the engine may
 * take it; a stream taken earlier could be written by two threads. */
static void mxhr_suspend_connection(conn_rec *c, request_rec *r)
{
    mxhr_entry *e = ap_get_module_config(c->conn_config, &mxhr_module);

    if (!e) {
        return;
    }
    ap_set_module_config(c->conn_config, &mxhr_module, NULL);
    if (c->cs->state != CONN_STATE_SUSPENDED) {
        /* The MPM did not suspend the connection but closes it itself
         * (event.c's process_lingering_close() runs these hooks too,
         * e.g. when c->aborted was set after the handler): it stays
         * the MPM's, and its pool's cleanups end the stream. */
        ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, c, MXHR_LOGNO(033)
                      "the connection was not suspended (state %d); "
                      "the stream ends with it", (int)c->cs->state);
        e->s->sink_ctx = NULL;
        e->s->sink = NULL;
        apr_atomic_dec32(&child_streams);
        free(e);
        return;
    }
    note_worker(c, &e->worker);
    e->handed_at = apr_time_now();
    e->retain_ok = apr_allocator_owner_get(apr_pool_allocator_get(c->pool))
                   == c->pool;
    apr_thread_mutex_lock(engine.mutex);
    e->next = engine.incoming;
    engine.incoming = e;
    apr_thread_mutex_unlock(engine.mutex);
    mxhr_engine_wake();
    if (worker_lag > 0) {
        lag_like_a_preempted_worker(c);
    }
}

/* A worker starts a job: a new connection (runs first, declines). */
static conn_rec *mxhr_create_connection(apr_pool_t *p, server_rec *s,
                                        apr_socket_t *csd, long id,
                                        void *sbh, apr_bucket_alloc_t *alloc)
{
    worker_starts_job();
    return NULL;
}

/* A worker starts a job on a connection it resumes. Without c->sbh the
 * connection's pool is being cleaned up, maybe by another thread. */
static void mxhr_resume_connection(conn_rec *c, request_rec *r)
{
    if (c->sbh) {
        worker_starts_job();
    }
}

static void mxhr_child_stopping(apr_pool_t *pchild, int graceful)
{
    apr_atomic_set32(&engine.stopping, 1);
    mxhr_engine_wake();
}

apr_status_t mxhr_engine_adopt(mxhr_stream *s, apr_time_t wake)
{
    request_rec *r = s->r;
    conn_rec *c = s->c;
    const mxhr_srv_conf *sc = ap_get_module_config(r->server->module_config,
                                                   &mxhr_module);
    mxhr_entry *e;

    if (!engine_running(r->server) || !s->csd) {
        return APR_EGENERAL;
    }
    e = calloc(1, sizeof(*e));
    if (!e) {
        return APR_ENOMEM;
    }
    e->s = s;
    e->c = c;
    e->state = E_LIVE;
    e->due = wake;
    mxhr_io_init(&e->io, c, sc->send_buffer > 0
                            ? (apr_size_t)sc->send_buffer
                            : MXHR_DEFAULT_SEND_BUFFER);
    e->keep_request = s->set.keep_request;
    s->sink_ctx = e;
    s->sink = engine_writev;
    ap_set_module_config(c->conn_config, &mxhr_module, e);
    apr_atomic_inc32(&child_streams);
    mxhr_shared_hold_gauge(&s->hold, MXHR_GAUGE_SUSPENDED);
    return APR_SUCCESS;
}

void mxhr_engine_register_hooks(apr_pool_t *p)
{
    /* Last: no job may start on the worker after it (see "The
     * takeover"). */
    ap_hook_suspend_connection(mxhr_suspend_connection, NULL, NULL,
                               APR_HOOK_REALLY_LAST);
    ap_hook_create_connection(mxhr_create_connection, NULL, NULL,
                              APR_HOOK_REALLY_FIRST);
    ap_hook_resume_connection(mxhr_resume_connection, NULL, NULL,
                              APR_HOOK_MIDDLE);
    ap_hook_child_stopping(mxhr_child_stopping, NULL, NULL, APR_HOOK_MIDDLE);
    mxhr_io_register_hooks();
}
