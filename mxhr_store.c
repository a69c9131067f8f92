/* mod_mxhr: the channel store (see mxhr_store.h).
 *
 * Layout of the segment: a header (lock, futex words, counters, the
 * undo log, the table of dead children), the virtual hosts, the
 * channels, a hash index of the channels, then the message ring. Ring
 * positions are byte counts since the store was made (they only grow);
 * a record never wraps: the end of the ring is padded.
 *
 * The lock is a process-shared, robust pthread mutex: a child that dies
 * holding it cannot stop the others. What it was changing would be torn
 * then, so every change under the lock is made in steps that each leave
 * the store whole, and before a step changes a byte it saves what was
 * there in the undo log (undo_save). A step ends with undo_commit(),
 * which empties the log. The next process to take the lock from a dead
 * holder puts back what the log holds (store_recover): the dead child's
 * unfinished step is undone, every finished one stays, and a child that
 * died reading (the log is empty) costs nothing. Only a store reset
 * under way is finished instead (redo_reset), and a step too big for
 * the log (which none is) falls back to emptying the store. The
 * store's last_seq is never undone: it moves after the step that
 * keeps the message, and the recovery raises it to the newest kept.
 *
 * The parent never takes the lock (a child stopped holding it would
 * stop the parent, which then replaces no child): it notes a dead
 * child's PID in a lock-free table and the children give back its
 * subscriptions, a bounded batch of rows each time one takes the lock.
 */

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/syscall.h>

#include "apr_atomic.h"
#include "apr_shm.h"
#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "ap_mpm.h"

#include "mxhr_config.h"
#include "mxhr_private.h"
#include "mxhr_shared.h"
#include "mxhr_store.h"

#define STORE_MAGIC   0x4d58485253544f52ULL   /* "MXHRSTOR" */
#define STORE_VERSION 3
#define NONE          ((apr_uint64_t)-1)
#define PAD           0xffffffffu
#define VHOSTS_MAX    1024
/* Expired messages dropped from the ring's tail per publish, at most:
 * the lock is held briefly. */
#define SWEEP_MAX 256
/* Processes with a futex word of their own. */
#define ROWS 64
/* See chan_trim(). */
#define DELIVERY_GRACE apr_time_from_sec(1)
/* The undo log: the biggest step saves a channel, a vhost, a tomb, a
 * record header, the header's state and the index slots it shifts
 * (2 KB and a few bytes per slot); the rest is margin. Too much
 * only costs the store if the step then dies (it is emptied). */
#define UNDO_BYTES 16384
/* Dead children whose subscriptions are still to be given back. */
#define DEAD_MAX 256
/* Subscription rows looked at per lock hold while some are. */
#define REAP_BATCH 8192
/* A channel's count of subscriptions in one process row saturates
 * here: that row's bit then stays set (extra wake-ups, nothing lost). */
#define ROW_SUBS_MAX 0xffffu

#define ALIGN8(n) (((n) + 7) & ~(apr_uint64_t)7)

typedef struct {
    apr_uint32_t used;
    apr_uint32_t channels;
    apr_uint64_t hash;
    char key[MXHR_VHOST_KEY_MAX + 1];
} vhost_row;

typedef struct {
    apr_uint32_t used;
    volatile apr_uint32_t gen;
    apr_uint64_t hash;
    volatile apr_uint64_t last_seq;
    apr_uint64_t dropped_upto;      /* newest seq no longer kept */
    apr_uint64_t first_pos, last_pos;
    apr_uint32_t count;
    volatile apr_uint32_t subscribers;
    apr_uint64_t rows;              /* processes with subscribers here */
    apr_uint32_t unrowed;           /* subscribers without a row */
    apr_int64_t requested;
    apr_int64_t hist_time;
    apr_uint32_t hist_max;
    apr_uint32_t vhost;
    apr_uint32_t next_free;         /* idx + 1, 0: none */
    apr_uint32_t name_len;
    /* Subscriptions per process row: its bit in rows goes with the
     * last of them, so that a publish wakes only who serves it. */
    apr_uint16_t row_subs[ROWS];
    char name[MXHR_CHANNEL_NAME_MAX + 1];
} chan_row;

typedef struct {
    apr_uint32_t size;              /* the whole record, 8-aligned */
    apr_uint32_t chan;              /* PAD: filler to the ring's end */
    apr_uint32_t gen;
    apr_uint32_t dead;
    apr_uint64_t seq;
    apr_int64_t time;
    apr_uint64_t next;              /* the channel's next, NONE: last */
    apr_uint64_t prev;              /* the channel's previous, NONE */
    apr_uint32_t meta_len, body_len;   /* type NUL event NUL, body */
} rec_hdr;

/* What a forgotten channel had dropped, for a channel of the same name
 * made later: a client resuming from before it is told it lost. */
typedef struct {
    apr_uint64_t hash;              /* 0: empty */
    apr_uint64_t seq;
} tomb_row;

/* A subscription, by process, so that the subscriptions of a child
 * that died holding them can be given back. */
typedef struct {
    apr_int32_t pid;                /* 0: free */
    apr_int32_t row;                /* its process's row, -1: none */
    apr_uint32_t chan, gen, tag;
    apr_uint32_t next_free;
} sub_row;

/* A child that died, noted by the parent without the lock (pid set by
 * compare-and-swap from 0); the children give back its subscriptions
 * (reap_some) and then free the row. */
typedef struct {
    volatile apr_uint32_t pid;      /* 0: free */
    volatile apr_uint32_t adopted;  /* a sweep for it is under way */
    apr_uint64_t done_at;           /* the sweep has seen every row */
    apr_uint32_t given;             /* subscriptions given back */
    apr_uint32_t pad;
} dead_row;

/* What the lock guards in the header: saved whole in the undo log by
 * a step that changes it. Not last_seq: a seq once seen lock-free is
 * never handed out again, so it only grows, even on an undo. */
typedef struct {
    apr_uint32_t free_head;
    apr_uint32_t sub_free;          /* free list: row + 1, 0: none */
    apr_uint32_t sub_tag;
    apr_uint32_t pinned;            /* a channel not to free: idx + 1 */
    apr_uint64_t forgotten_upto;    /* newest seq of a forgotten channel */
    volatile apr_uint64_t channels, messages, subscribers;
    apr_uint64_t head, tail;
    /* Redis mode: publishes up to it were never seen here (a gap). */
    apr_uint64_t mirror_gap;
} store_state;

typedef struct {
    volatile apr_uint32_t used;     /* bytes of entries; 0: none */
    volatile apr_uint32_t overflow; /* a step saved too much: reset */
    volatile apr_uint32_t redo_reset;   /* a reset was under way */
    apr_uint32_t pad;
    char log[UNDO_BYTES];
} undo_log;

/* One saved piece: len bytes at off (from the segment's start) follow,
 * padded to 8. */
typedef struct {
    apr_uint64_t off;
    apr_uint32_t len;
    apr_uint32_t pad;
} undo_entry;

typedef struct {
    apr_uint64_t magic;
    apr_uint32_t version;
    apr_uint32_t nchan, nindex;
    apr_uint64_t size;
    apr_uint64_t layout;            /* this build's struct layout */
    volatile apr_uint64_t store_id;
    pthread_mutex_t lock;
    volatile apr_uint32_t epoch;    /* the futex word of processes
                                       without a row */
    /* A futex word per process (up to ROWS of them): a publish wakes
     * only the processes that serve its channel. Claimed and freed by
     * compare-and-swap, without the lock. */
    volatile apr_uint32_t row_pid[ROWS];
    volatile apr_uint32_t row_epoch[ROWS];
    /* The row's process has subscriptions, or had and did not say at
     * its exit that it gave them all back: only then has its death
     * anything to give back. */
    volatile apr_uint32_t row_subbed[ROWS];
    volatile apr_uint64_t last_seq;
    volatile apr_uint64_t published, delivered;
    apr_uint64_t vhost_off, chan_off, index_off, tomb_off, sub_off;
    apr_uint64_t ring_off, ring_size;
    apr_uint64_t changes_off;       /* the last publishes' channels */
    volatile apr_uint32_t deletes;
    apr_uint32_t nsub;
    /* Redis mode: the store mirrors Redis's channels; its id is
     * Redis's epoch (0: none adopted yet) and seqs are Redis's. */
    apr_uint32_t mirror;
    volatile apr_uint32_t resets;   /* times the store was emptied */
    volatile apr_uint32_t sub_changes;
    volatile apr_uint32_t dead_count;   /* rows of dead in use */
    apr_uint32_t vhosts_hi;         /* rows below it may be used */
    apr_uint64_t reap_pos;          /* subscription rows swept, ever */
    dead_row dead[DEAD_MAX];
    store_state s;
    mxhr_redis_shared redis;
    undo_log undo;
} store_hdr;

typedef struct {
    apr_shm_t *shm;
    apr_size_t size;
} store_retained;

static store_hdr *st;
static int my_word_row = -1;    /* this process's futex row, -1: none */
static volatile apr_uint32_t my_subs;   /* its subscriptions held now */

#define VHOSTS() ((vhost_row *)((char *)st + st->vhost_off))
#define CHANS()  ((chan_row *)((char *)st + st->chan_off))
#define INDEX()  ((apr_uint32_t *)((char *)st + st->index_off))
#define TOMBS()  ((tomb_row *)((char *)st + st->tomb_off))
#define SUBS()   ((sub_row *)((char *)st + st->sub_off))
#define CHANGES() ((volatile apr_uint64_t *)((char *)st + st->changes_off))
#define RING()   ((char *)st + st->ring_off)

/* The layout of this build's structures: a segment kept from before a
 * graceful restart is used only by a build that lays it out the same
 * way (a rebuilt module whose structs changed would misread it). */
static apr_uint64_t store_layout(void)
{
    const apr_uint64_t v[] = {
        sizeof(store_hdr), sizeof(vhost_row), sizeof(chan_row),
        sizeof(rec_hdr), sizeof(tomb_row), sizeof(sub_row),
        sizeof(dead_row), sizeof(store_state), sizeof(undo_log),
        sizeof(pthread_mutex_t), sizeof(mxhr_redis_shared),
        offsetof(store_hdr, lock), offsetof(store_hdr, row_epoch),
        offsetof(store_hdr, row_subbed),
        offsetof(store_hdr, last_seq), offsetof(store_hdr, dead),
        offsetof(store_hdr, s), offsetof(store_hdr, redis),
        offsetof(store_hdr, undo), offsetof(chan_row, last_seq),
        offsetof(chan_row, row_subs), offsetof(chan_row, name),
        offsetof(rec_hdr, seq), offsetof(rec_hdr, next),
        offsetof(rec_hdr, meta_len), offsetof(sub_row, chan),
        ROWS, VHOSTS_MAX, DEAD_MAX, MXHR_STORE_CHANGES,
        MXHR_CHANNEL_NAME_MAX, MXHR_VHOST_KEY_MAX,
        MXHR_STORE_BYTES_PER_CHANNEL, MXHR_STORE_BYTES_PER_SUB
    };

    return mxhr_hash64(v, sizeof(v), 0);
}

static apr_uint64_t hash_key(apr_uint32_t vhost, const char *name,
                             apr_size_t len)
{
    return mxhr_hash64(name, len, vhost);
}

/* ---- The undo log ----------------------------------------------------- */

/* Orders the log's writes and the changes they protect as a killed
 * process leaves them (compiler and CPU). */
#define BARRIER() __sync_synchronize()

#ifdef MXHR_STORE_TEST
/* t/unit/store_test.c: called where a step saves or ends, to die there
 * (the store is built with -DMXHR_STORE_TEST only for that test). */
void (*mxhr_store_test_point)(void);
#define TEST_POINT() do {                                               \
    if (mxhr_store_test_point) {                                        \
        mxhr_store_test_point();                                        \
    }                                                                   \
} while (0)
#else
#define TEST_POINT()
#endif

/* Saves len bytes at p before a step changes them. */
static void undo_save(const volatile void *p, apr_size_t len)
{
    apr_uint32_t used = st->undo.used;
    apr_size_t need = sizeof(undo_entry) + ALIGN8(len);
    undo_entry *e;

    TEST_POINT();
    if (used + need > UNDO_BYTES) {
        /* Cannot be undone: a death before the step ends empties the
         * store, as if there were no log. */
        st->undo.overflow = 1;
        BARRIER();
        return;
    }
    e = (undo_entry *)(st->undo.log + used);
    e->off = (apr_uint64_t)((const char *)p - (const char *)st);
    e->len = (apr_uint32_t)len;
    memcpy(e + 1, (const void *)p, len);
    BARRIER();
    st->undo.used = (apr_uint32_t)(used + need);
    BARRIER();
}

#define SAVE(x) undo_save(&(x), sizeof(x))
#define SAVE_STATE() SAVE(st->s)

/* Ends a step: what it changed stays, whatever happens next. */
static void undo_commit(void)
{
    TEST_POINT();
    BARRIER();
    st->undo.used = 0;
    st->undo.overflow = 0;
    BARRIER();
    TEST_POINT();
}

/* Puts back what the log saved, newest first: the earliest save of a
 * place is the value it had before the step. Done again from the start
 * if the process doing it dies too (the log is emptied only after). */
static void undo_apply(void)
{
    apr_uint32_t at[UNDO_BYTES / sizeof(undo_entry)];
    apr_uint32_t n = 0, off = 0, used = st->undo.used;

    while (off + sizeof(undo_entry) <= used && n < sizeof(at) / sizeof(at[0])) {
        undo_entry *e = (undo_entry *)(st->undo.log + off);

        at[n++] = off;
        off += (apr_uint32_t)(sizeof(undo_entry) + ALIGN8(e->len));
    }
    while (n--) {
        undo_entry *e = (undo_entry *)(st->undo.log + at[n]);

        if (e->off + e->len <= st->size) {
            memcpy((char *)st + e->off, e + 1, e->len);
        }
    }
}

/* Empties the store; a new id makes every earlier id unknown. A death
 * midway is finished by whoever takes the lock next (redo_reset). */
static void store_reset(void)
{
    apr_uint32_t i;

    st->undo.redo_reset = 1;
    BARRIER();
    memset(VHOSTS(), 0, VHOSTS_MAX * sizeof(vhost_row));
    st->vhosts_hi = 0;
    memset(INDEX(), 0, st->nindex * sizeof(apr_uint32_t));
    for (i = 0; i < st->nchan; i++) {
        chan_row *c = &CHANS()[i];
        apr_uint32_t gen = c->gen;

        memset(c, 0, sizeof(*c));
        c->gen = gen + 1;
        c->next_free = i + 2 <= st->nchan ? i + 2 : 0;
    }
    {
        /* Tags go on growing: a stream's stale ref must never match a
         * row's new use. */
        apr_uint32_t tag = st->s.sub_tag;

        memset(&st->s, 0, sizeof(st->s));
        st->s.sub_tag = tag;
    }
    st->s.free_head = st->nchan ? 1 : 0;
    memset(TOMBS(), 0, st->nchan * sizeof(tomb_row));
    for (i = 0; i < st->nsub; i++) {
        sub_row *r = &SUBS()[i];

        r->pid = 0;
        r->next_free = i + 2 <= st->nsub ? i + 2 : 0;
    }
    st->s.sub_free = st->nsub ? 1 : 0;
    for (i = 0; i < DEAD_MAX; i++) {
        /* Nothing of theirs is left to give back. */
        if (st->dead[i].pid) {
            st->dead[i].adopted = 0;
            apr_atomic_set32(&st->dead[i].pid, 0);
            apr_atomic_dec32(&st->dead_count);
        }
    }
    memset((void *)CHANGES(), 0, MXHR_STORE_CHANGES * sizeof(apr_uint64_t));
    apr_atomic_inc32(&st->deletes);
    st->last_seq = 0;
    /* Mirroring Redis, ids are Redis's: the readers adopt its epoch
     * again (mxhr_store_adopt). */
    st->store_id = st->mirror ? 0 : (apr_uint64_t)apr_time_now();
    apr_atomic_inc32(&st->resets);
    undo_commit();
    st->undo.redo_reset = 0;
    BARRIER();
}

/* Under the lock taken from a dead holder: its unfinished step undone
 * (or its reset finished). */
static void store_recover(void)
{
    if (st->undo.redo_reset || st->undo.overflow) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, NULL, MXHR_LOGNO(050)
                     "a child died while %s the channel store; emptying "
                     "it (subscribers resuming are told their history is "
                     "lost)", st->undo.redo_reset ? "emptying"
                                                 : "making a big change to");
        store_reset();
    }
    else if (st->undo.used) {
        undo_apply();
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, NULL, MXHR_LOGNO(055)
                     "a child died while changing the channel store: its "
                     "unfinished change was undone, nothing else is lost");
    }
    else {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, NULL, MXHR_LOGNO(056)
                     "a child died holding the channel store's lock "
                     "between changes: nothing is lost");
    }
    /* Whatever the dead child had pinned is free again. */
    st->s.pinned = 0;
    undo_commit();
    {
        /* It may have died between a publish's end and the store's
         * last_seq learning of it: never hand out a kept seq again. */
        apr_uint64_t last = st->last_seq;
        apr_uint32_t i;

        for (i = 0; i < st->nchan; i++) {
            if (CHANS()[i].used && CHANS()[i].last_seq > last) {
                last = CHANS()[i].last_seq;
            }
        }
        if (last > st->last_seq) {
            apr_atomic_set64(&st->last_seq, last);
        }
    }
}

static void reap_some(void);

static int store_lock(void)
{
    int rc = pthread_mutex_lock(&st->lock);

    if (rc == EOWNERDEAD) {
        store_recover();
        pthread_mutex_consistent(&st->lock);
        rc = 0;
    }
    if (rc == 0 && apr_atomic_read32(&st->dead_count)) {
        reap_some();
    }
    return rc == 0;
}

/* Dead children whose subscriptions this thread gave back under the
 * lock, logged once it is released (a log write may block). */
#define REAPED_LOG 8
static __thread apr_uint32_t reaped_pid[REAPED_LOG], reaped_n[REAPED_LOG];
static __thread int reaped;

static void store_unlock(void)
{
    undo_commit();
    pthread_mutex_unlock(&st->lock);
    while (reaped > 0) {
        reaped--;
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, NULL, MXHR_LOGNO(054)
                     "child %u ended holding %u channel subscriptions; "
                     "given back", reaped_pid[reaped], reaped_n[reaped]);
    }
}

static void wake_word(volatile apr_uint32_t *word)
{
    apr_atomic_inc32(word);
    syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* Wakes the processes of rows, and those without a row if any of them
 * may be concerned. */
static void wake_some(apr_uint64_t rows, int unrowed)
{
    int i;

    if (unrowed) {
        wake_word(&st->epoch);
    }
    for (i = 0; rows; i++, rows >>= 1) {
        if (rows & 1) {
            wake_word(&st->row_epoch[i]);
        }
    }
}

/* Wakes every process (a delete, an emptied store). */
static void wake_all(void)
{
    int i;

    wake_word(&st->epoch);
    for (i = 0; i < ROWS; i++) {
        if (apr_atomic_read32((volatile apr_uint32_t *)&st->row_pid[i])) {
            wake_word(&st->row_epoch[i]);
        }
    }
}

static volatile apr_uint32_t *my_word(void)
{
    return my_word_row >= 0 ? &st->row_epoch[my_word_row] : &st->epoch;
}

apr_status_t mxhr_store_init(apr_pool_t *pconf, server_rec *s,
                             apr_size_t size, int mirror)
{
    store_retained *ret;
    pthread_mutexattr_t attr;
    int rc;
    apr_uint64_t nchan, nindex, nsub, off;
    apr_status_t rv;

    ret = ap_retained_data_get("mxhr_store");
    if (!ret) {
        ret = ap_retained_data_create("mxhr_store", sizeof(*ret));
        memset(ret, 0, sizeof(*ret));
    }
    if (ret->shm) {
        /* The header's first fields (magic to layout) never move: an
         * older build's segment is read only that far. */
        int same;

        st = apr_shm_baseaddr_get(ret->shm);
        same = ret->size == size && st->magic == STORE_MAGIC
               && st->version == STORE_VERSION
               && st->layout == store_layout();
        if (same && st->mirror == (apr_uint32_t)!!mirror) {
            return APR_SUCCESS;
        }
        if (ret->size == size && !same) {
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, MXHR_LOGNO(058)
                         "the channel store kept from before the restart "
                         "is laid out differently from what this build of "
                         "mod_mxhr expects (it was rebuilt): a new, empty "
                         "channel store");
        }
        else {
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, MXHR_LOGNO(051)
                         "MxhrStoreSize or MxhrRedis changed: a new, empty "
                         "channel store");
        }
        /* Children of the old generation keep their own mapping. */
        apr_shm_destroy(ret->shm);
        ret->shm = NULL;
    }
    /* The process pool: the store outlives this generation. */
    rv = apr_shm_create(&ret->shm, size, NULL, s->process->pool);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, MXHR_LOGNO(052)
                     "cannot create the channel store (MxhrStoreSize %"
                     APR_SIZE_T_FMT " bytes)", size);
        st = NULL;
        return rv;
    }
    ret->size = size;
    st = apr_shm_baseaddr_get(ret->shm);
    memset(st, 0, sizeof(*st));

    nchan = size / MXHR_STORE_BYTES_PER_CHANNEL;
    nsub = size / MXHR_STORE_BYTES_PER_SUB;
    for (nindex = 1; nindex < 2 * nchan; nindex <<= 1) {
        /* a power of two, at most half full */
    }
    off = ALIGN8(sizeof(*st));
    st->vhost_off = off;
    off += ALIGN8(VHOSTS_MAX * sizeof(vhost_row));
    st->chan_off = off;
    off += ALIGN8(nchan * sizeof(chan_row));
    st->index_off = off;
    off += ALIGN8(nindex * sizeof(apr_uint32_t));
    st->tomb_off = off;
    off += ALIGN8(nchan * sizeof(tomb_row));
    st->sub_off = off;
    off += ALIGN8(nsub * sizeof(sub_row));
    st->changes_off = off;
    off += MXHR_STORE_CHANGES * sizeof(apr_uint64_t);
    st->ring_off = off;
    if (off + 4096 > size) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, MXHR_LOGNO(053)
                     "MxhrStoreSize %" APR_SIZE_T_FMT " is too small",
                     size);
        st = NULL;
        return APR_EINVAL;
    }
    st->ring_size = (size - off) & ~(apr_uint64_t)7;
    st->nchan = (apr_uint32_t)nchan;
    st->nindex = (apr_uint32_t)nindex;
    st->nsub = (apr_uint32_t)nsub;
    st->size = size;

    /* Shared by the children, and robust: without it a child that dies
     * holding the lock is never reported (EOWNERDEAD) and every other
     * waits on it for ever. No store rather than such a lock. */
    if ((rc = pthread_mutexattr_init(&attr)) != 0) {
        st = NULL;
        ap_log_error(APLOG_MARK, APLOG_EMERG, rc, s, MXHR_LOGNO(062)
                     "cannot make the channel store's lock; no channels");
        return APR_FROM_OS_ERROR(rc);
    }
    if ((rc = pthread_mutexattr_setpshared(&attr,
                                           PTHREAD_PROCESS_SHARED)) != 0
        || (rc = pthread_mutexattr_setrobust(&attr,
                                             PTHREAD_MUTEX_ROBUST)) != 0
        || (rc = pthread_mutex_init(&st->lock, &attr)) != 0) {
        pthread_mutexattr_destroy(&attr);
        st = NULL;
        ap_log_error(APLOG_MARK, APLOG_EMERG, rc, s, MXHR_LOGNO(063)
                     "cannot make the channel store's lock shared and "
                     "robust; no channels");
        return APR_FROM_OS_ERROR(rc);
    }
    pthread_mutexattr_destroy(&attr);
    st->mirror = !!mirror;
    if (mirror) {
        apr_generate_random_bytes((unsigned char *)&st->redis.server_id,
                                  sizeof(st->redis.server_id));
        st->redis.server_id &= APR_UINT64_C(0x7fffffffffffffff);
    }
    store_reset();
    st->layout = store_layout();
    st->version = STORE_VERSION;
    st->magic = STORE_MAGIC;
    return APR_SUCCESS;
}

int mxhr_store_ready(void)
{
    return st != NULL;
}

apr_uint64_t mxhr_store_id(void)
{
    return st ? st->store_id : 0;
}

apr_uint64_t mxhr_store_last_seq(void)
{
    return st ? apr_atomic_read64(&st->last_seq) : 0;
}

/* Under the lock: the vhost's row, made if new (PAD when none; with
 * make, when every row is taken). Rows are freed with their last
 * channel (chan_free). */
static apr_uint32_t vhost_find(const char *key, int make)
{
    vhost_row *v = VHOSTS();
    apr_uint64_t h = mxhr_hash64(key, strlen(key), 0);
    apr_uint32_t i, free_row = PAD;

    for (i = 0; i < st->vhosts_hi; i++) {
        if (!v[i].used) {
            if (free_row == PAD) {
                free_row = i;
            }
        }
        else if (v[i].hash == h && strcmp(v[i].key, key) == 0) {
            return i;
        }
    }
    if (!make) {
        return PAD;
    }
    if (free_row == PAD) {
        if (st->vhosts_hi == VHOSTS_MAX) {
            if (mxhr_shared_once("store: vhosts full")) {
                ap_log_error(APLOG_MARK, APLOG_ERR, 0, NULL, MXHR_LOGNO(057)
                             "the channel store holds channels of %d "
                             "virtual hosts, its most: \"%s\" can make "
                             "none until one of them has no channel left "
                             "(its publishes get 507, its subscriptions "
                             "503)", VHOSTS_MAX, key);
            }
            return PAD;
        }
        SAVE(st->vhosts_hi);
        free_row = st->vhosts_hi++;
    }
    SAVE(v[free_row]);
    v[free_row].used = 1;
    v[free_row].channels = 0;
    v[free_row].hash = h;
    apr_cpystrn(v[free_row].key, key, sizeof(v[free_row].key));
    return free_row;
}

static apr_uint32_t index_slot(apr_uint64_t h)
{
    return (apr_uint32_t)(h & (st->nindex - 1));
}

/* Under the lock: the channel's row index, or PAD. */
static apr_uint32_t chan_find(apr_uint32_t vhost, const char *name)
{
    apr_size_t len = strlen(name);
    apr_uint64_t h = hash_key(vhost, name, len);
    apr_uint32_t *ix = INDEX();
    apr_uint32_t i = index_slot(h);

    while (ix[i]) {
        chan_row *c = &CHANS()[ix[i] - 1];

        if (c->hash == h && c->vhost == vhost && c->name_len == len
            && memcmp(c->name, name, len) == 0) {
            return ix[i] - 1;
        }
        i = (i + 1) & (st->nindex - 1);
    }
    return PAD;
}

/* Under the lock, a step: a new channel, with the history limits of
 * the request that makes it (a publish sets its own on each publish). */
static apr_uint32_t chan_make(apr_uint32_t vhost, const char *name,
                              int max_channels, int hist_max,
                              apr_interval_time_t hist_time)
{
    vhost_row *v = &VHOSTS()[vhost];
    apr_uint32_t *ix = INDEX();
    apr_uint32_t n, i;
    chan_row *c;

    if (!st->s.free_head
        || (max_channels > 0 && v->channels >= (apr_uint32_t)max_channels)) {
        return PAD;
    }
    SAVE_STATE();
    SAVE(*v);
    n = st->s.free_head - 1;
    c = &CHANS()[n];
    SAVE(*c);
    st->s.free_head = c->next_free;
    c->used = 1;
    c->name_len = (apr_uint32_t)strlen(name);
    memcpy(c->name, name, c->name_len + 1);
    c->vhost = vhost;
    c->hash = hash_key(vhost, name, c->name_len);
    c->last_seq = 0;
    /* Whatever a forgotten channel held, an id from then is not known
     * to be complete here. */
    c->dropped_upto = st->s.forgotten_upto;
    /* Mirroring Redis, nothing before now was copied into it. */
    if (st->mirror && st->last_seq > c->dropped_upto) {
        c->dropped_upto = st->last_seq;
    }
    {
        tomb_row *t = &TOMBS()[c->hash % st->nchan];

        if (t->hash == (c->hash | 1) && t->seq > c->dropped_upto) {
            c->dropped_upto = t->seq;
        }
    }
    c->first_pos = c->last_pos = NONE;
    c->count = 0;
    c->subscribers = 0;
    c->rows = 0;
    c->unrowed = 0;
    memset(c->row_subs, 0, sizeof(c->row_subs));
    c->requested = 0;
    c->hist_max = hist_max > 0 ? (apr_uint32_t)hist_max : 1;
    c->hist_time = hist_time;
    for (i = index_slot(c->hash); ix[i]; i = (i + 1) & (st->nindex - 1)) {
        /* linear probing */
    }
    SAVE(ix[i]);
    ix[i] = n + 1;
    v->channels++;
    st->s.channels++;
    return n;
}

/* Takes the channel out of the index (backward-shift deletion: no
 * tombstones to slow lookups down) and gives its row back; its vhost's
 * row too when it was the last. */
static void chan_free(apr_uint32_t n)
{
    chan_row *c = &CHANS()[n];
    vhost_row *v = &VHOSTS()[c->vhost];
    apr_uint32_t *ix = INDEX();
    apr_uint32_t mask = st->nindex - 1;
    apr_uint32_t i = index_slot(c->hash), j;

    SAVE_STATE();
    SAVE(*c);
    SAVE(*v);
    while (ix[i] && ix[i] != n + 1) {
        i = (i + 1) & mask;
    }
    if (ix[i]) {
        SAVE(ix[i]);
        ix[i] = 0;
        for (j = (i + 1) & mask; ix[j]; j = (j + 1) & mask) {
            apr_uint32_t home = index_slot(CHANS()[ix[j] - 1].hash);

            /* Move j back to the hole when its home is not in (i, j]. */
            if ((j > i && (home <= i || home > j))
                || (j < i && (home <= i && home > j))) {
                SAVE(ix[i]);
                SAVE(ix[j]);
                ix[i] = ix[j];
                ix[j] = 0;
                i = j;
            }
        }
    }
    {
        /* Remembered under its name; the one it displaces is folded
         * into what every new channel inherits (safe: at worst a client
         * is told it lost what it had). */
        tomb_row *t = &TOMBS()[c->hash % st->nchan];
        apr_uint64_t seq = c->last_seq > c->dropped_upto ? c->last_seq
                                                         : c->dropped_upto;

        if (seq) {
            SAVE(*t);
            if (t->hash && t->hash != (c->hash | 1)) {
                if (t->seq > st->s.forgotten_upto) {
                    st->s.forgotten_upto = t->seq;
                }
                t->seq = 0;
            }
            t->hash = c->hash | 1;
            if (seq > t->seq) {
                t->seq = seq;
            }
        }
    }
    st->s.subscribers -= c->subscribers;
    if (--v->channels == 0) {
        v->used = 0;
    }
    st->s.channels--;
    c->used = 0;
    c->subscribers = 0;
    c->gen++;
    c->next_free = st->s.free_head;
    st->s.free_head = n + 1;
}

static rec_hdr *rec_at(apr_uint64_t pos)
{
    return (rec_hdr *)(RING() + pos % st->ring_size);
}

/* A step: drops the channel's oldest kept message (its space comes
 * back when the ring's tail passes it). */
static void drop_first(chan_row *c)
{
    rec_hdr *h = rec_at(c->first_pos);

    SAVE_STATE();
    SAVE(*c);
    SAVE(h->dead);
    h->dead = 1;
    if (h->seq > c->dropped_upto) {
        c->dropped_upto = h->seq;
    }
    c->count--;
    st->s.messages--;
    if (c->count) {
        rec_hdr *next = rec_at(h->next);

        SAVE(next->prev);
        next->prev = NONE;
        c->first_pos = h->next;
    }
    else {
        c->first_pos = c->last_pos = NONE;
    }
}

/* Applies the channel's history limits (count, age), a step per
 * message dropped: they go from the head, so a publish costs what it
 * drops, not the channel's length. A message stays for DELIVERY_GRACE
 * whatever the count, so that a burst of publishes larger than the
 * history does not outrun subscribers that read well: every child's
 * engine copies it out within milliseconds. */
static void chan_trim(chan_row *c, apr_time_t now)
{
    while (c->count) {
        apr_time_t t = rec_at(c->first_pos)->time;

        if (t >= now - c->hist_time
            && (c->count <= c->hist_max || t >= now - DELIVERY_GRACE)) {
            break;
        }
        drop_first(c);
        undo_commit();
    }
}

static void chan_maybe_free(apr_uint32_t n)
{
    chan_row *c = &CHANS()[n];

    if (c->used && c->count == 0 && c->subscribers == 0
        && st->s.pinned != n + 1) {
        chan_free(n);
    }
}

/* Under the lock: the record at the ring's tail, past the unwritten
 * end of the ring a record did not fit in; NULL when the ring is empty
 * or its tail record is torn (*torn then set). */
static rec_hdr *tail_record(int *torn)
{
    apr_uint64_t off;
    rec_hdr *h;

    *torn = 0;
    off = st->s.tail % st->ring_size;
    if (st->s.tail < st->s.head && st->ring_size - off < sizeof(rec_hdr)) {
        SAVE_STATE();
        st->s.tail += st->ring_size - off;
        off = 0;
    }
    if (st->s.tail >= st->s.head) {
        return NULL;
    }
    h = rec_at(st->s.tail);
    if (h->size < sizeof(rec_hdr) || h->size > st->ring_size - off
        || st->s.tail + h->size > st->s.head) {
        *torn = 1;
        return NULL;
    }
    return h;
}

/* A step: frees the ring's oldest record; 0 when the ring is torn. */
static int evict_tail(void)
{
    apr_uint64_t before = st->s.tail;
    int torn;
    rec_hdr *h = tail_record(&torn);

    if (!h || st->s.tail != before) {
        /* Torn; or the end of the ring was passed, which may be room
         * enough already. */
        undo_commit();
        return !torn;
    }
    if (h->chan != PAD && !h->dead && h->chan < st->nchan) {
        chan_row *c = &CHANS()[h->chan];

        if (c->used && c->gen == h->gen) {
            if (c->first_pos != st->s.tail) {
                return 0;   /* a live record that its channel lost */
            }
            drop_first(c);
            chan_maybe_free(h->chan);
        }
    }
    SAVE_STATE();
    st->s.tail += h->size;
    undo_commit();
    return 1;
}

/* Under the lock: gives back the space of the dead records at the
 * ring's tail, and of the expired ones there (a few at a time), so that
 * what is used is what is kept, and channels nobody touches still
 * expire. A step per record. */
static void ring_reclaim(apr_time_t now)
{
    int expired = 0, torn;
    rec_hdr *h;

    while ((h = tail_record(&torn)) != NULL) {
        if (h->chan != PAD && !h->dead) {
            chan_row *c = h->chan < st->nchan ? &CHANS()[h->chan] : NULL;

            if (!c || !c->used || c->gen != h->gen
                || c->first_pos != st->s.tail || expired >= SWEEP_MAX
                || h->time >= now - c->hist_time) {
                break;
            }
            drop_first(c);
            chan_maybe_free(h->chan);
            expired++;
        }
        SAVE_STATE();
        st->s.tail += h->size;
        undo_commit();
    }
    undo_commit();
    if (st->s.tail == st->s.head) {
        SAVE_STATE();
        st->s.tail = st->s.head = 0;
        undo_commit();
    }
}

/* Under the lock: a record of need bytes at the ring's head, the
 * oldest messages evicted to make room (a step each); NONE when need
 * is too big. The head moves in the caller's step. */
static apr_uint64_t ring_alloc(apr_uint64_t need)
{
    for (;;) {
        apr_uint64_t off = st->s.head % st->ring_size;
        apr_uint64_t pad = st->ring_size - off < need
                           ? st->ring_size - off : 0;

        if (st->s.head - st->s.tail + pad + need <= st->ring_size) {
            if (pad >= sizeof(rec_hdr)) {
                /* Beyond the head: free space, nothing to save. */
                rec_hdr *h = rec_at(st->s.head);

                memset(h, 0, sizeof(*h));
                h->size = (apr_uint32_t)pad;
                h->chan = PAD;
            }
            SAVE_STATE();
            st->s.head += pad;
            st->s.head += need;
            return st->s.head - need;
        }
        if (st->s.head == st->s.tail || !evict_tail()) {
            /* Nothing left to evict, or a torn ring: start afresh. */
            if (st->s.head != st->s.tail) {
                store_reset();
            }
            SAVE_STATE();
            st->s.head = st->s.tail = 0;
            if (need > st->ring_size) {
                return NONE;
            }
        }
    }
}

/* Under the lock: the channel, or PAD. */
static apr_uint32_t lookup(const char *vhost, const char *name, int make,
                           int max_channels, int hist_max,
                           apr_interval_time_t hist_time, apr_status_t *why)
{
    apr_uint32_t v = vhost_find(vhost, make), n;

    *why = MXHR_STORE_NOTFOUND;
    if (v == PAD) {
        if (make) {
            *why = MXHR_STORE_FULL;
        }
        return PAD;
    }
    n = chan_find(v, name);
    if (n == PAD && make) {
        n = chan_make(v, name, max_channels, hist_max, hist_time);
        if (n == PAD) {
            *why = MXHR_STORE_FULL;
            if (!VHOSTS()[v].channels) {
                /* Made just now for nothing: not kept. */
                SAVE(VHOSTS()[v].used);
                VHOSTS()[v].used = 0;
            }
        }
    }
    return n;
}

static void fill_info(const chan_row *c, mxhr_chan_info *info)
{
    info->last_seq = c->last_seq;
    /* Kept: the last hist_max (more stay a moment for delivery). */
    info->messages = c->count < c->hist_max ? c->count : c->hist_max;
    info->subscribers = c->subscribers;
    info->requested = c->requested;
}

/* Under the lock: seq is the store's newest, and went to channel n
 * (MXHR_STORE_NO_CHAN: none here), for the engines (mxhr_store_changed).
 * Never undone: a seq seen is never handed out again. */
static void note_publish(apr_uint64_t seq, apr_uint32_t n)
{
    apr_atomic_set64(&CHANGES()[seq % MXHR_STORE_CHANGES],
                     ((seq & 0xffffffffu) << 32) | n);
    apr_atomic_set64(&st->last_seq, seq);
}

/* Under the lock: appends a message made at time t to channel n as
 * seq; *rows and *unrowed say whom to wake once unlocked. */
static apr_status_t chan_append(apr_uint32_t n, apr_uint64_t seq,
                                apr_time_t t, const char *content_type,
                                const char *event, const char *body,
                                apr_size_t len, apr_uint64_t *rows,
                                apr_uint32_t *unrowed)
{
    apr_size_t ct_len = strlen(content_type);
    apr_size_t ev_len = event ? strlen(event) : 0;
    apr_size_t meta_len = ct_len + 1 + ev_len + 1;
    apr_uint64_t need = ALIGN8(sizeof(rec_hdr) + meta_len + len);
    chan_row *c = &CHANS()[n];
    apr_uint32_t gen = c->gen;
    apr_uint64_t pos;
    rec_hdr *h;

    if (need > st->ring_size || len > 0x7fffffff) {
        return MXHR_STORE_TOO_BIG;
    }
    /* Pinned while its room is made, so that eviction cannot free the
     * channel under us. */
    SAVE_STATE();
    st->s.pinned = n + 1;
    pos = ring_alloc(need);
    if (!c->used || c->gen != gen) {
        /* A torn ring emptied the whole store meanwhile. */
        return APR_EGENERAL;
    }
    st->s.pinned = 0;
    if (pos == NONE) {
        chan_maybe_free(n);
        return MXHR_STORE_TOO_BIG;
    }
    /* Written into the room just made (nothing to save there); the
     * step links it. */
    h = rec_at(pos);
    h->size = (apr_uint32_t)need;
    h->chan = n;
    h->gen = c->gen;
    h->dead = 0;
    h->seq = seq;
    h->time = t;
    h->next = NONE;
    h->prev = c->count ? c->last_pos : NONE;
    h->meta_len = (apr_uint32_t)meta_len;
    h->body_len = (apr_uint32_t)len;
    memcpy((char *)(h + 1), content_type, ct_len + 1);
    memcpy((char *)(h + 1) + ct_len + 1, event ? event : "", ev_len + 1);
    if (len) {
        memcpy((char *)(h + 1) + meta_len, body, len);
    }
    SAVE(*c);
    if (c->count) {
        rec_hdr *last = rec_at(c->last_pos);

        SAVE(last->next);
        last->next = pos;
    }
    else {
        c->first_pos = pos;
    }
    c->last_pos = pos;
    c->count++;
    st->s.messages++;
    /* Readers check last_seq without the lock: the record is whole
     * before it says so. The store's last_seq only once the step is
     * done: it is never undone, and a seq undone with its message
     * would be lost (mirroring Redis, it would be taken as copied). A
     * death between the two is made good by store_recover(). */
    apr_atomic_set64(&c->last_seq, seq);
    undo_commit();
    note_publish(seq, n);
    chan_trim(c, apr_time_now());
    ring_reclaim(apr_time_now());
    *rows = c->rows;
    *unrowed = c->unrowed;
    return APR_SUCCESS;
}

apr_status_t mxhr_store_publish(const char *vhost, const char *name,
                                int max_channels, int hist_max,
                                apr_interval_time_t hist_time,
                                const char *content_type, const char *event,
                                const char *body, apr_size_t len,
                                mxhr_chan_info *info)
{
    apr_status_t why, rv;
    apr_uint32_t n, unrowed = 0;
    apr_uint64_t rows = 0;
    chan_row *c;

    memset(info, 0, sizeof(*info));
    if (!st) {
        return MXHR_STORE_NONE;
    }
    if (!store_lock()) {
        return APR_EGENERAL;
    }
    n = lookup(vhost, name, 1, max_channels, hist_max, hist_time, &why);
    if (n == PAD) {
        store_unlock();
        return why;
    }
    c = &CHANS()[n];
    SAVE(*c);
    c->hist_max = hist_max > 0 ? (apr_uint32_t)hist_max : 1;
    c->hist_time = hist_time;
    rv = chan_append(n, st->last_seq + 1, apr_time_now(), content_type,
                     event, body, len, &rows, &unrowed);
    if (rv == APR_SUCCESS) {
        fill_info(c, info);
        info->id = c->last_seq;
    }
    store_unlock();
    if (rv == APR_SUCCESS) {
        apr_atomic_inc64(&st->published);
        wake_some(rows, unrowed);
    }
    return rv;
}

/* Under the lock: forgets channel n and its messages (DELETE); its
 * streams must be woken (wake_all) once unlocked. */
static void chan_forget(apr_uint32_t n)
{
    chan_row *c = &CHANS()[n];

    while (c->count) {
        drop_first(c);
        undo_commit();
    }
    chan_free(n);
    undo_commit();
    apr_atomic_inc32(&st->deletes);
}

/* Info on a channel, and with forget set, forgets it (DELETE). */
static apr_status_t info_or_forget(const char *vhost, const char *name,
                                   mxhr_chan_info *info, int forget)
{
    apr_status_t why;
    apr_uint32_t n;

    memset(info, 0, sizeof(*info));
    if (!st) {
        return MXHR_STORE_NONE;
    }
    if (!store_lock()) {
        return APR_EGENERAL;
    }
    n = lookup(vhost, name, 0, 0, 0, 0, &why);
    if (n != PAD) {
        chan_row *c = &CHANS()[n];

        chan_trim(c, apr_time_now());
        /* DELETE answers with what the channel held. */
        fill_info(c, info);
        if (forget) {
            chan_forget(n);
        }
        else if (!c->count && !c->subscribers) {
            /* All expired, nobody there: it exists no more. */
            chan_free(n);
            n = PAD;
        }
        ring_reclaim(apr_time_now());
    }
    store_unlock();
    if (n == PAD) {
        return MXHR_STORE_NOTFOUND;
    }
    if (forget) {
        /* Its streams see it gone and end. */
        wake_all();
    }
    return APR_SUCCESS;
}

apr_status_t mxhr_store_info(const char *vhost, const char *name,
                             mxhr_chan_info *info)
{
    return info_or_forget(vhost, name, info, 0);
}

apr_status_t mxhr_store_delete(const char *vhost, const char *name,
                               mxhr_chan_info *info)
{
    return info_or_forget(vhost, name, info, 1);
}

apr_status_t mxhr_store_subscribe(const char *vhost, const char *name,
                                  int max_channels, int hist_max,
                                  apr_interval_time_t hist_time,
                                  mxhr_chan_ref *ref)
{
    apr_status_t why = MXHR_STORE_FULL;
    apr_uint32_t n = PAD;

    if (!st) {
        return MXHR_STORE_NONE;
    }
    if (!store_lock()) {
        return APR_EGENERAL;
    }
    if (st->s.sub_free) {
        n = lookup(vhost, name, 1, max_channels, hist_max, hist_time, &why);
    }
    if (n != PAD) {
        chan_row *c = &CHANS()[n];
        apr_uint32_t k = st->s.sub_free - 1;
        sub_row *r = &SUBS()[k];

        if (my_word_row >= 0 && !st->row_subbed[my_word_row]) {
            /* Before the subscription exists: the parent then always
             * knows a dead child's rows are to be looked for. */
            apr_atomic_set32(&st->row_subbed[my_word_row], 1);
        }
        SAVE_STATE();
        SAVE(*c);
        SAVE(*r);
        st->s.sub_free = r->next_free;
        r->pid = (apr_int32_t)getpid();
        r->row = my_word_row;
        if (my_word_row >= 0) {
            if (c->row_subs[my_word_row] < ROW_SUBS_MAX) {
                c->row_subs[my_word_row]++;
            }
            c->rows |= APR_UINT64_C(1) << my_word_row;
        }
        else {
            c->unrowed++;
        }
        r->chan = n;
        r->gen = c->gen;
        r->tag = ++st->s.sub_tag;
        c->subscribers++;
        st->s.subscribers++;
        c->requested = apr_time_now();
        undo_commit();
        apr_atomic_inc32(&st->sub_changes);
        apr_atomic_inc32(&my_subs);
        chan_trim(c, apr_time_now());
        ref->idx = n;
        ref->gen = c->gen;
        ref->sub = k;
        ref->tag = r->tag;
    }
    store_unlock();
    return n == PAD ? why : APR_SUCCESS;
}

/* Under the lock, a step: gives back the subscription in row k. */
static void sub_release(apr_uint32_t k)
{
    sub_row *r = &SUBS()[k];
    chan_row *c = r->chan < st->nchan ? &CHANS()[r->chan] : NULL;

    SAVE_STATE();
    SAVE(*r);
    if (c && c->used && c->gen == r->gen && c->subscribers > 0) {
        SAVE(*c);
        if (r->row < 0 && c->unrowed > 0) {
            c->unrowed--;
        }
        else if (r->row >= 0 && r->row < ROWS) {
            apr_uint16_t *rs = &c->row_subs[r->row];

            /* Its process's bit goes with the last of its
             * subscriptions here (a saturated count keeps it). */
            if (*rs > 0 && *rs < ROW_SUBS_MAX && --*rs == 0) {
                c->rows &= ~(APR_UINT64_C(1) << r->row);
            }
        }
        c->subscribers--;
        st->s.subscribers--;
        apr_atomic_inc32(&st->sub_changes);
        chan_maybe_free(r->chan);
    }
    r->pid = 0;
    r->next_free = st->s.sub_free;
    st->s.sub_free = k + 1;
}

void mxhr_store_unsubscribe(const mxhr_chan_ref *ref)
{
    sub_row *r;

    if (!st || ref->sub >= st->nsub || !store_lock()) {
        return;
    }
    r = &SUBS()[ref->sub];
    /* Not if the store was emptied meanwhile and the row is another's. */
    if (r->pid && r->tag == ref->tag) {
        sub_release(ref->sub);
        apr_atomic_dec32(&my_subs);
    }
    store_unlock();
}

/* Under the lock: gives back the subscriptions of dead children, a
 * batch of rows at a time (the lock is held briefly); a dead child's
 * row in the table is freed once the sweep has seen every row since it
 * was taken up. */
static void reap_some(void)
{
    apr_uint32_t pids[DEAD_MAX], idx[DEAD_MAX];
    int n = 0, i, b;

    for (i = 0; i < DEAD_MAX; i++) {
        dead_row *d = &st->dead[i];
        apr_uint32_t pid = apr_atomic_read32(&d->pid);

        if (!pid) {
            continue;
        }
        if (!d->adopted) {
            /* Its rows may be anywhere: a whole round from here. */
            d->done_at = st->reap_pos + st->nsub;
            d->given = 0;
            BARRIER();
            d->adopted = 1;
        }
        pids[n] = pid;
        idx[n++] = i;
    }
    for (b = 0; n && b < REAP_BATCH && st->nsub; b++) {
        apr_uint32_t k = (apr_uint32_t)(st->reap_pos % st->nsub);
        apr_int32_t pid = SUBS()[k].pid;

        if (pid) {
            for (i = 0; i < n; i++) {
                if ((apr_uint32_t)pid == pids[i]) {
                    sub_release(k);
                    undo_commit();
                    st->dead[idx[i]].given++;
                    break;
                }
            }
        }
        /* Not undone: a row seen twice is harmless (a released row is
         * free, pid 0). */
        st->reap_pos++;
    }
    for (i = 0; i < n; i++) {
        dead_row *d = &st->dead[idx[i]];

        if (d->done_at <= st->reap_pos) {
            if (d->given && reaped < REAPED_LOG) {
                reaped_pid[reaped] = pids[i];
                reaped_n[reaped++] = d->given;
            }
            d->adopted = 0;
            BARRIER();
            apr_atomic_set32(&d->pid, 0);
            apr_atomic_dec32(&st->dead_count);
        }
    }
}

/* In the parent, without the lock (a child may be stopped holding it):
 * a child has exited. Its futex row is freed; its subscriptions are
 * noted for the children to give back (reap_some). */
static void store_child_status(server_rec *s, pid_t pid, ap_generation_t gen,
                               int slot, mpm_child_status state)
{
    int i, subbed = 1;

    /* Any generation: the store outlives them. */
    if (state != MPM_CHILD_EXITED || !st || pid <= 0) {
        return;
    }
    for (i = 0; i < ROWS; i++) {
        if (apr_atomic_read32(&st->row_pid[i]) == (apr_uint32_t)pid) {
            /* Read before the row is freed for another to claim. */
            subbed = apr_atomic_read32(&st->row_subbed[i]) != 0;
            apr_atomic_cas32(&st->row_pid[i], 0, (apr_uint32_t)pid);
        }
    }
    if (!subbed || !st->s.sub_tag) {
        /* It held nothing at its exit, or nobody ever subscribed (a
         * process without a row, over ROWS of them): nothing to give
         * back. */
        return;
    }
    for (i = 0; i < DEAD_MAX; i++) {
        if (apr_atomic_cas32(&st->dead[i].pid, (apr_uint32_t)pid, 0) == 0) {
            apr_atomic_inc32(&st->dead_count);
            return;
        }
    }
    if (mxhr_shared_once("store: dead children table full")) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, MXHR_LOGNO(059)
                     "child %" APR_PID_T_FMT " ended, but %d others are "
                     "still to be cleaned up after: the channel "
                     "subscriptions it may have held stay counted (logged "
                     "once)", pid, DEAD_MAX);
    }
}

void mxhr_store_register_hooks(apr_pool_t *p)
{
    ap_hook_child_status(store_child_status, NULL, NULL, APR_HOOK_MIDDLE);
}

apr_uint64_t mxhr_store_chan_last(const mxhr_chan_ref *ref)
{
    chan_row *c;
    apr_uint64_t last;

    if (!st || ref->idx >= st->nchan) {
        return NONE;
    }
    c = &CHANS()[ref->idx];
    last = apr_atomic_read64(&c->last_seq);
    return apr_atomic_read32(&c->gen) == ref->gen ? last : NONE;
}

apr_status_t mxhr_store_fetch(const mxhr_chan_ref *ref, apr_uint64_t after,
                              apr_uint64_t upto, int last_n, int live,
                              apr_size_t limit, mxhr_batch **out,
                              apr_uint64_t *dropped, int *more)
{
    apr_uint64_t pos, start = NONE, bytes = 0;
    apr_uint32_t kept, steps = 0;
    int n = 0, take = 0;
    mxhr_batch *b;
    chan_row *c;
    char *p;

    *out = NULL;
    *dropped = 0;
    *more = 0;
    if (!st || ref->idx >= st->nchan) {
        return MXHR_STORE_NOTFOUND;
    }
    if (!store_lock()) {
        return APR_EGENERAL;
    }
    c = &CHANS()[ref->idx];
    if (!c->used || c->gen != ref->gen) {
        store_unlock();
        return MXHR_STORE_NOTFOUND;
    }
    chan_trim(c, apr_time_now());
    *dropped = c->dropped_upto > st->s.mirror_gap ? c->dropped_upto
                                                  : st->s.mirror_gap;
    /* What the channel keeps is its last hist_max: those beyond it
     * stay a moment only for live delivery (chan_trim). */
    kept = live || c->count < c->hist_max ? c->count : c->hist_max;
    /* From the newest back to the first one wanted: a live reader
     * costs what it has not had, not the channel's length. */
    pos = c->count ? c->last_pos : NONE;
    while (pos != NONE && steps < kept) {
        rec_hdr *h = rec_at(pos);

        if (h->seq <= after) {
            break;
        }
        if (h->seq <= upto) {
            n++;
            start = pos;
            if (last_n > 0 && n == last_n) {
                break;
            }
        }
        steps++;
        pos = h->prev;
    }
    if (steps == kept && pos != NONE && rec_at(pos)->seq > *dropped) {
        /* The newest of those beyond the history. */
        *dropped = rec_at(pos)->seq;
    }
    /* The first ones up to limit bytes (at least one); then copied in
     * one block. */
    for (pos = start; pos != NONE && take < n; pos = rec_at(pos)->next) {
        rec_hdr *h = rec_at(pos);

        if (limit && take && bytes + h->meta_len + h->body_len > limit) {
            break;
        }
        take++;
        bytes += h->meta_len + h->body_len;
    }
    *more = take < n;
    if (take > 0) {
        b = malloc(sizeof(*b) + take * sizeof(mxhr_msg) + bytes);
        if (!b) {
            store_unlock();
            return APR_ENOMEM;
        }
        b->n = 0;
        b->msgs = (mxhr_msg *)(b + 1);
        p = (char *)(b->msgs + take);
        for (pos = start; pos != NONE && b->n < take;
             pos = rec_at(pos)->next) {
            rec_hdr *h = rec_at(pos);
            mxhr_msg *m = &b->msgs[b->n++];

            m->seq = h->seq;
            m->content_type = memcpy(p, h + 1, h->meta_len);
            m->event = m->content_type + strlen(m->content_type) + 1;
            p += h->meta_len;
            m->len = h->body_len;
            m->body = memcpy(p, (char *)(h + 1) + h->meta_len, m->len);
            p += m->len;
        }
        *out = b;
    }
    store_unlock();
    return APR_SUCCESS;
}

int mxhr_store_changed(apr_uint64_t seq, apr_uint32_t *chan)
{
    apr_uint64_t v;

    if (!st) {
        return 0;
    }
    v = apr_atomic_read64(&CHANGES()[seq % MXHR_STORE_CHANGES]);
    if ((v >> 32) != (seq & 0xffffffffu)) {
        return 0;               /* overwritten by a newer one already */
    }
    *chan = (apr_uint32_t)(v & 0xffffffffu);
    return 1;
}

apr_uint32_t mxhr_store_deletes(void)
{
    return st ? apr_atomic_read32(&st->deletes) : 0;
}

apr_size_t mxhr_store_max_message(void)
{
    return st ? (apr_size_t)(st->ring_size - sizeof(rec_hdr) - 64) : 0;
}

apr_uint32_t mxhr_store_epoch(void)
{
    return st ? apr_atomic_read32(my_word()) : 0;
}

void mxhr_store_wait(apr_uint32_t seen, apr_interval_time_t timeout)
{
    struct timespec ts;

    if (!st) {
        apr_sleep(timeout);
        return;
    }
    if (timeout <= 0) {
        return;
    }
    ts.tv_sec = apr_time_sec(timeout);
    ts.tv_nsec = apr_time_usec(timeout) * 1000;
    /* Returns at once if the word has moved on already: no wake-up is
     * lost between reading it and sleeping. */
    syscall(SYS_futex, my_word(), FUTEX_WAIT, seen, &ts, NULL, 0);
}

void mxhr_store_wake_all(void)
{
    if (st) {
        wake_word(my_word());
    }
}

/* At this process's exit: its row stays claimed for the parent to
 * free (store_child_status), saying whether anything is left to give
 * back; a process that gave back all it held is then not swept for. */
static apr_status_t row_release(void *data)
{
    if (st && my_word_row >= 0) {
        apr_atomic_set32(&st->row_subbed[my_word_row],
                         apr_atomic_read32(&my_subs) != 0);
    }
    my_word_row = -1;
    return APR_SUCCESS;
}

void mxhr_store_child_init(apr_pool_t *pchild)
{
    apr_uint32_t pid = (apr_uint32_t)getpid();
    int i, mine = 0;

    my_word_row = -1;
    my_subs = 0;
    if (!st) {
        return;
    }
    for (i = 0; i < DEAD_MAX; i++) {
        mine |= apr_atomic_read32(&st->dead[i].pid) == pid;
    }
    if (mine && store_lock()) {
        /* A dead child had this PID and its subscriptions are still
         * being given back: finish that first, or ours would go too. */
        for (;;) {
            for (i = 0; i < DEAD_MAX
                        && apr_atomic_read32(&st->dead[i].pid) != pid; i++) {
            }
            if (i == DEAD_MAX) {
                break;
            }
            reap_some();
        }
        store_unlock();
    }
    for (i = 0; i < ROWS; i++) {
        if (apr_atomic_cas32(&st->row_pid[i], pid, 0) == 0) {
            apr_atomic_set32(&st->row_subbed[i], 0);
            my_word_row = i;
            break;
        }
    }
    apr_pool_cleanup_register(pchild, NULL, row_release,
                              apr_pool_cleanup_null);
}

void mxhr_store_count_delivered(apr_uint64_t n)
{
    if (st && n) {
        apr_atomic_add64(&st->delivered, n);
    }
}

void mxhr_store_get_stats(mxhr_store_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!st) {
        return;
    }
    out->size = st->size;
    out->used = st->s.head - st->s.tail;
    out->channels = st->s.channels;
    out->messages = st->s.messages;
    out->subscribers = st->s.subscribers;
    out->published = apr_atomic_read64(&st->published);
    out->delivered = apr_atomic_read64(&st->delivered);
}

/* ---- Redis mode: the store as a mirror ------------------------------ */

apr_uint32_t mxhr_store_resets(void)
{
    return st ? apr_atomic_read32(&st->resets) : 0;
}

apr_uint32_t mxhr_store_subscribers(const mxhr_chan_ref *ref)
{
    chan_row *c;

    if (!st || ref->idx >= st->nchan) {
        return 0;
    }
    c = &CHANS()[ref->idx];
    return c->gen == ref->gen ? c->subscribers : 0;
}

mxhr_redis_shared *mxhr_store_redis(void)
{
    return st && st->mirror ? &st->redis : NULL;
}

int mxhr_store_adopt(apr_uint64_t epoch, apr_uint64_t seq)
{
    int reset = 0;

    if (!st || !st->mirror || !store_lock()) {
        return 0;
    }
    if (st->store_id != epoch) {
        /* Redis lost its data (or this store is new): nothing here is
         * in its id space. Streams end and resume from Redis. */
        reset = st->store_id != 0 || st->s.channels != 0;
        store_reset();
        st->store_id = epoch;
        st->last_seq = seq;
    }
    store_unlock();
    if (reset) {
        wake_all();
    }
    return reset;
}

int mxhr_store_mirror(const mxhr_mirror_msg *m)
{
    apr_status_t why;
    apr_uint32_t n, unrowed = 0;
    apr_uint64_t rows = 0;
    int res = MXHR_MIRROR_DONE, all = 0;

    if (!st || !st->mirror || !store_lock()) {
        return MXHR_MIRROR_SKIPPED;
    }
    if (st->store_id != m->epoch) {
        store_unlock();
        return MXHR_MIRROR_EPOCH;
    }
    if (m->id <= st->last_seq) {
        /* Another child of this server copied it first. */
        store_unlock();
        return MXHR_MIRROR_SKIPPED;
    }
    if (m->id > st->last_seq + 1 && st->last_seq) {
        /* Messages this server never saw (Redis trimmed its stream of
         * publishes past us): whoever may have wanted them is ended
         * and resumes from Redis, which still keeps them. One mark for
         * every channel (mxhr_store_fetch), not a walk through them
         * under the lock. */
        SAVE_STATE();
        st->s.mirror_gap = m->id - 1;
        undo_commit();
        res = MXHR_MIRROR_GAP;
        all = 1;
    }
    n = lookup(m->vhost, m->name, 0, 0, 0, 0, &why);
    if (n != PAD && m->kind == MXHR_MIRROR_DELETE) {
        chan_forget(n);
        ring_reclaim(apr_time_now());
        all = 1;
    }
    else if (n != PAD) {
        chan_row *c = &CHANS()[n];

        SAVE(*c);
        c->hist_max = m->hist_max > 0 ? (apr_uint32_t)m->hist_max : 1;
        c->hist_time = m->hist_time;
        if (chan_append(n, m->id, m->time, m->content_type, m->event,
                        m->body, m->len, &rows, &unrowed) != APR_SUCCESS) {
            /* Too big for this store, or torn: its readers end behind
             * and resume from Redis. */
            if (CHANS()[n].used && CHANS()[n].dropped_upto < m->id) {
                SAVE(CHANS()[n].dropped_upto);
                CHANS()[n].dropped_upto = m->id;
            }
            all = 1;
        }
    }
    if (st->last_seq < m->id) {
        /* Nobody here serves it: only the engines' list of changes
         * learns that this seq went to no channel of ours. */
        note_publish(m->id, MXHR_STORE_NO_CHAN);
    }
    store_unlock();
    if (all) {
        wake_all();
    }
    else {
        wake_some(rows, unrowed);
    }
    return res;
}

apr_status_t mxhr_store_each_counted(void (*fn)(void *ctx,
                                                 const char *vhost,
                                                 const char *name,
                                                 apr_uint32_t n),
                                     void *ctx, apr_uint32_t *changes)
{
    apr_uint32_t i;

    if (!st || !store_lock()) {
        return MXHR_STORE_NONE;
    }
    *changes = apr_atomic_read32(&st->sub_changes);
    for (i = 0; i < st->nchan; i++) {
        chan_row *c = &CHANS()[i];

        if (c->used && c->subscribers) {
            fn(ctx, VHOSTS()[c->vhost].key, c->name, c->subscribers);
        }
    }
    store_unlock();
    return APR_SUCCESS;
}

apr_uint32_t mxhr_store_sub_changes(void)
{
    return st ? apr_atomic_read32(&st->sub_changes) : 0;
}

#ifdef MXHR_STORE_TEST
/* t/unit/store_test.c: the layout recorded in the segment, to play a
 * build whose structs differ. */
apr_uint64_t *mxhr_store_test_layout(void);
apr_uint64_t *mxhr_store_test_layout(void)
{
    return st ? &st->layout : NULL;
}

/* t/unit/store_test.c: takes the lock (recovering from a dead holder)
 * and checks that every structure agrees with the others; NULL when
 * whole, else what is wrong. */
const char *mxhr_store_test_check(apr_uint64_t *store_id);
const char *mxhr_store_test_check(apr_uint64_t *store_id)
{
    static char err[256];
    apr_uint64_t messages = 0, subs = 0, channels = 0, pos;
    apr_uint32_t i, j, nfree = 0, nsfree = 0, vch[VHOSTS_MAX];
    int torn;

    if (!store_lock()) {
        return "cannot lock";
    }
    *store_id = st->store_id;
    err[0] = '\0';
    memset(vch, 0, sizeof(vch));
    for (i = 0; i < st->nchan && !err[0]; i++) {
        chan_row *c = &CHANS()[i];
        apr_uint32_t n = 0, rs = 0;
        apr_uint64_t prev = NONE, seq = 0, sc = 0;

        if (!c->used) {
            continue;
        }
        channels++;
        if (c->vhost >= VHOSTS_MAX || !VHOSTS()[c->vhost].used) {
            apr_snprintf(err, sizeof(err), "channel %u: no vhost", i);
            break;
        }
        vch[c->vhost]++;
        if (chan_find(c->vhost, c->name) != i) {
            apr_snprintf(err, sizeof(err), "channel %u not indexed", i);
            break;
        }
        for (pos = c->count ? c->first_pos : NONE; pos != NONE;
             pos = rec_at(pos)->next) {
            rec_hdr *h = rec_at(pos);

            if (pos < st->s.tail || pos >= st->s.head || n > c->count
                || h->chan != i || h->gen != c->gen || h->dead
                || h->prev != prev || h->seq <= seq
                || h->seq > c->last_seq) {
                apr_snprintf(err, sizeof(err), "channel %u: record %u "
                             "wrong", i, n);
                break;
            }
            prev = pos;
            seq = h->seq;
            n++;
        }
        if (!err[0] && c->last_seq > st->last_seq) {
            apr_snprintf(err, sizeof(err), "channel %u: last seq %"
                         APR_UINT64_T_FMT " beyond the store's", i,
                         (apr_uint64_t)c->last_seq);
        }
        if (!err[0] && (n != c->count || (n && prev != c->last_pos))) {
            apr_snprintf(err, sizeof(err), "channel %u: count %u, has %u",
                         i, c->count, n);
        }
        messages += n;
        for (j = 0; j < st->nsub; j++) {
            sub_row *r = &SUBS()[j];

            if (r->pid && r->chan == i && r->gen == c->gen) {
                sc++;
                rs += r->row >= 0;
            }
        }
        for (j = 0; j < ROWS; j++) {
            if (((c->rows >> j) & 1) != (c->row_subs[j] != 0)) {
                apr_snprintf(err, sizeof(err), "channel %u: row bit %u",
                             i, j);
            }
            rs -= c->row_subs[j];
        }
        if (!err[0] && (sc != c->subscribers || rs != 0
                        || c->unrowed > c->subscribers)) {
            apr_snprintf(err, sizeof(err), "channel %u: %u subscribers, "
                         "rows say %" APR_UINT64_T_FMT, i, c->subscribers,
                         sc);
        }
        subs += sc;
    }
    for (i = st->s.free_head; i && i <= st->nchan && nfree <= st->nchan;
         i = CHANS()[i - 1].next_free) {
        nfree++;
    }
    for (i = st->s.sub_free; i && i <= st->nsub && nsfree <= st->nsub;
         i = SUBS()[i - 1].next_free) {
        nsfree++;
    }
    for (j = 0, i = 0; i < st->nsub; i++) {
        j += SUBS()[i].pid != 0;
    }
    if (!err[0]) {
        for (i = 0; i < VHOSTS_MAX; i++) {
            if (VHOSTS()[i].used != (vch[i] != 0)
                || VHOSTS()[i].channels != vch[i]) {
                apr_snprintf(err, sizeof(err), "vhost %u: %u channels, "
                             "%u found", i, VHOSTS()[i].channels, vch[i]);
                break;
            }
        }
    }
    if (!err[0] && (channels != st->s.channels
                    || nfree + channels != st->nchan)) {
        apr_snprintf(err, sizeof(err), "channels: %" APR_UINT64_T_FMT
                     " counted, %" APR_UINT64_T_FMT " used, %u free",
                     (apr_uint64_t)st->s.channels, channels, nfree);
    }
    if (!err[0] && (messages != st->s.messages || subs != st->s.subscribers
                    || j != subs || nsfree + j != st->nsub)) {
        apr_snprintf(err, sizeof(err), "messages %" APR_UINT64_T_FMT "/%"
                     APR_UINT64_T_FMT ", subscriptions %" APR_UINT64_T_FMT
                     "/%u/%u", messages, (apr_uint64_t)st->s.messages,
                     subs, j, nsfree);
    }
    if (!err[0] && st->s.pinned) {
        apr_snprintf(err, sizeof(err), "channel %u still pinned",
                     st->s.pinned - 1);
    }
    /* The ring from tail to head parses. */
    for (pos = st->s.tail; !err[0] && pos < st->s.head;) {
        apr_uint64_t save = st->s.tail;
        rec_hdr *h;

        st->s.tail = pos;
        h = tail_record(&torn);
        pos = st->s.tail;
        st->s.tail = save;
        if (!h) {
            if (torn) {
                apr_snprintf(err, sizeof(err), "ring torn at %"
                             APR_UINT64_T_FMT, pos);
            }
            break;
        }
        pos += h->size;
    }
    undo_commit();
    store_unlock();
    return err[0] ? err : NULL;
}
#endif
