/* mod_mxhr: the channel store (see mxhr_store.h).
 *
 * Layout of the segment: a header (lock, futex word, counters), the
 * virtual hosts, the channels, a hash index of the channels, then the
 * message ring. Ring positions are byte counts since the store was made
 * (they only grow); a record never wraps: the end of the ring is padded.
 *
 * The lock is a process-shared, robust pthread mutex: a child that dies
 * holding it cannot stop the others. What it guarded may be torn then,
 * so the store is emptied and gets a new id (subscribers resuming are
 * told their history is lost), which is honest and cannot crash.
 */

#include <errno.h>
#include <limits.h>
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
#include "mxhr_store.h"

APLOG_USE_MODULE(mxhr);

#define STORE_MAGIC   0x4d58485253544f52ULL   /* "MXHRSTOR" */
#define STORE_VERSION 2
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

#define ALIGN8(n) (((n) + 7) & ~(apr_uint64_t)7)

typedef struct {
    apr_uint32_t used;
    apr_uint32_t channels;
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
    apr_uint32_t meta_len, body_len;   /* type NUL event NUL, body */
} rec_hdr;

/* What a forgotten channel had dropped, for a channel of the same name
 * made later: a client resuming from before it is told it lost. */
typedef struct {
    apr_uint64_t hash;              /* 0: empty */
    apr_uint64_t seq;
} tomb_row;

/* A subscription, by process, so that the parent can give back those
 * of a child that died holding them. */
typedef struct {
    apr_int32_t pid;                /* 0: free */
    apr_int32_t row;                /* its process's row, -1: none */
    apr_uint32_t chan, gen, tag;
    apr_uint32_t next_free;
} sub_row;

typedef struct {
    apr_uint64_t magic;
    apr_uint32_t version;
    apr_uint32_t nchan, nindex;
    apr_uint64_t size;
    volatile apr_uint64_t store_id;
    pthread_mutex_t lock;
    volatile apr_uint32_t epoch;    /* the futex word of processes
                                       without a row */
    /* A futex word per process (up to ROWS of them): a publish wakes
     * only the processes that serve its channel. */
    volatile apr_int32_t row_pid[ROWS];
    volatile apr_uint32_t row_epoch[ROWS];
    apr_uint32_t free_head;
    volatile apr_uint64_t last_seq;
    apr_uint64_t forgotten_upto;    /* newest seq of a forgotten channel */
    volatile apr_uint64_t published, delivered;
    volatile apr_uint64_t channels, messages, subscribers;
    apr_uint64_t vhost_off, chan_off, index_off, tomb_off, sub_off;
    apr_uint64_t ring_off, ring_size;
    apr_uint64_t changes_off;       /* the last publishes' channels */
    volatile apr_uint32_t deletes;
    apr_uint32_t nsub, sub_free;    /* free list: row + 1, 0: none */
    apr_uint32_t sub_tag;
    apr_uint64_t head, tail;
    /* Redis mode: the store mirrors Redis's channels; its id is
     * Redis's epoch (0: none adopted yet) and seqs are Redis's. */
    apr_uint32_t mirror;
    volatile apr_uint32_t resets;   /* times the store was emptied */
    volatile apr_uint32_t sub_changes;
    mxhr_redis_shared redis;
} store_hdr;

typedef struct {
    apr_shm_t *shm;
    apr_size_t size;
} store_retained;

static store_hdr *st;
static int my_row = -1;         /* this process's row, -1: none */

#define VHOSTS() ((vhost_row *)((char *)st + st->vhost_off))
#define CHANS()  ((chan_row *)((char *)st + st->chan_off))
#define INDEX()  ((apr_uint32_t *)((char *)st + st->index_off))
#define TOMBS()  ((tomb_row *)((char *)st + st->tomb_off))
#define SUBS()   ((sub_row *)((char *)st + st->sub_off))
#define CHANGES() ((volatile apr_uint64_t *)((char *)st + st->changes_off))
#define RING()   ((char *)st + st->ring_off)

static apr_uint64_t hash_key(apr_uint32_t vhost, const char *name,
                             apr_size_t len)
{
    apr_uint64_t h = 14695981039346656037ULL ^ vhost;
    apr_size_t i;

    for (i = 0; i < len; i++) {
        h = (h ^ (unsigned char)name[i]) * 1099511628211ULL;
    }
    return h;
}

/* Empties the store; a new id makes every earlier id unknown. */
static void store_reset(void)
{
    apr_uint32_t i;

    memset(VHOSTS(), 0, VHOSTS_MAX * sizeof(vhost_row));
    memset(INDEX(), 0, st->nindex * sizeof(apr_uint32_t));
    for (i = 0; i < st->nchan; i++) {
        chan_row *c = &CHANS()[i];
        apr_uint32_t gen = c->gen;

        memset(c, 0, sizeof(*c));
        c->gen = gen + 1;
        c->next_free = i + 2 <= st->nchan ? i + 2 : 0;
    }
    st->free_head = st->nchan ? 1 : 0;
    memset(TOMBS(), 0, st->nchan * sizeof(tomb_row));
    for (i = 0; i < st->nsub; i++) {
        sub_row *r = &SUBS()[i];

        r->pid = 0;
        r->next_free = i + 2 <= st->nsub ? i + 2 : 0;
    }
    st->sub_free = st->nsub ? 1 : 0;
    memset((void *)CHANGES(), 0, MXHR_STORE_CHANGES * sizeof(apr_uint64_t));
    apr_atomic_inc32(&st->deletes);
    st->head = st->tail = 0;
    st->channels = st->messages = st->subscribers = 0;
    st->forgotten_upto = 0;
    st->last_seq = 0;
    /* Mirroring Redis, ids are Redis's: the readers adopt its epoch
     * again (mxhr_store_adopt). */
    st->store_id = st->mirror ? 0 : (apr_uint64_t)apr_time_now();
    apr_atomic_inc32(&st->resets);
}

static int store_lock(void)
{
    int rc = pthread_mutex_lock(&st->lock);

    if (rc == EOWNERDEAD) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, NULL, MXHR_LOGNO(050)
                     "a child died while changing the channel store; "
                     "emptying it (subscribers resuming are told their "
                     "history is lost)");
        store_reset();
        pthread_mutex_consistent(&st->lock);
        rc = 0;
    }
    return rc == 0;
}

static void store_unlock(void)
{
    pthread_mutex_unlock(&st->lock);
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
    return my_row >= 0 ? &st->row_epoch[my_row] : &st->epoch;
}

apr_status_t mxhr_store_init(apr_pool_t *pconf, server_rec *s,
                             apr_size_t size, int mirror)
{
    store_retained *ret;
    pthread_mutexattr_t attr;
    apr_uint64_t nchan, nindex, nsub, off;
    apr_status_t rv;

    ret = ap_retained_data_get("mxhr_store");
    if (!ret) {
        ret = ap_retained_data_create("mxhr_store", sizeof(*ret));
        memset(ret, 0, sizeof(*ret));
    }
    if (ret->shm && ret->size == size) {
        st = apr_shm_baseaddr_get(ret->shm);
        if (st->magic == STORE_MAGIC && st->version == STORE_VERSION
            && st->mirror == (apr_uint32_t)!!mirror) {
            return APR_SUCCESS;
        }
    }
    if (ret->shm) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, MXHR_LOGNO(051)
                     "MxhrStoreSize or MxhrRedis changed: a new, empty "
                     "channel store");
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

    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    if (pthread_mutex_init(&st->lock, &attr) != 0) {
        pthread_mutexattr_destroy(&attr);
        st = NULL;
        return APR_EGENERAL;
    }
    pthread_mutexattr_destroy(&attr);
    st->mirror = !!mirror;
    if (mirror) {
        apr_generate_random_bytes((unsigned char *)&st->redis.server_id,
                                  sizeof(st->redis.server_id));
        st->redis.server_id &= APR_UINT64_C(0x7fffffffffffffff);
    }
    store_reset();
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

const char *mxhr_store_vhost_key(apr_pool_t *p, server_rec *s)
{
    unsigned port = s->port;

    if (!port && s->addrs) {
        port = s->addrs->host_port;
    }
    return apr_psprintf(p, "%.*s:%u", MXHR_VHOST_KEY_MAX - 8,
                        s->server_hostname ? s->server_hostname : "",
                        port);
}

/* Under the lock: the vhost's row, made if new (NULL when full). */
static apr_uint32_t vhost_find(const char *key, int make)
{
    vhost_row *v = VHOSTS();
    apr_uint32_t i;

    for (i = 0; i < VHOSTS_MAX && v[i].used; i++) {
        if (strcmp(v[i].key, key) == 0) {
            return i;
        }
    }
    if (!make || i == VHOSTS_MAX) {
        return PAD;
    }
    v[i].used = 1;
    v[i].channels = 0;
    apr_cpystrn(v[i].key, key, sizeof(v[i].key));
    return i;
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

static apr_uint32_t chan_make(apr_uint32_t vhost, const char *name,
                              int max_channels)
{
    vhost_row *v = &VHOSTS()[vhost];
    apr_uint32_t *ix = INDEX();
    apr_uint32_t n, i;
    chan_row *c;

    if (!st->free_head
        || (max_channels > 0 && v->channels >= (apr_uint32_t)max_channels)) {
        return PAD;
    }
    n = st->free_head - 1;
    c = &CHANS()[n];
    st->free_head = c->next_free;
    c->used = 1;
    c->name_len = (apr_uint32_t)strlen(name);
    memcpy(c->name, name, c->name_len + 1);
    c->vhost = vhost;
    c->hash = hash_key(vhost, name, c->name_len);
    c->last_seq = 0;
    /* Whatever a forgotten channel held, an id from then is not known
     * to be complete here. */
    c->dropped_upto = st->forgotten_upto;
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
    c->requested = 0;
    c->hist_max = 100;
    c->hist_time = apr_time_from_sec(3600);
    for (i = index_slot(c->hash); ix[i]; i = (i + 1) & (st->nindex - 1)) {
        /* linear probing */
    }
    ix[i] = n + 1;
    v->channels++;
    st->channels++;
    return n;
}

/* Takes the channel out of the index (backward-shift deletion: no
 * tombstones to slow lookups down) and gives its row back. */
static void chan_free(apr_uint32_t n)
{
    chan_row *c = &CHANS()[n];
    apr_uint32_t *ix = INDEX();
    apr_uint32_t mask = st->nindex - 1;
    apr_uint32_t i = index_slot(c->hash), j;

    while (ix[i] && ix[i] != n + 1) {
        i = (i + 1) & mask;
    }
    if (ix[i]) {
        ix[i] = 0;
        for (j = (i + 1) & mask; ix[j]; j = (j + 1) & mask) {
            apr_uint32_t home = index_slot(CHANS()[ix[j] - 1].hash);

            /* Move j back to the hole when its home is not in (i, j]. */
            if ((j > i && (home <= i || home > j))
                || (j < i && (home <= i && home > j))) {
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
            if (t->hash && t->hash != (c->hash | 1)) {
                if (t->seq > st->forgotten_upto) {
                    st->forgotten_upto = t->seq;
                }
                t->seq = 0;
            }
            t->hash = c->hash | 1;
            if (seq > t->seq) {
                t->seq = seq;
            }
        }
    }
    st->subscribers -= c->subscribers;
    VHOSTS()[c->vhost].channels--;
    st->channels--;
    c->used = 0;
    c->subscribers = 0;
    c->gen++;
    c->next_free = st->free_head;
    st->free_head = n + 1;
}

static rec_hdr *rec_at(apr_uint64_t pos)
{
    return (rec_hdr *)(RING() + pos % st->ring_size);
}

/* Drops the channel's oldest kept message (its space comes back when
 * the ring's tail passes it). */
static void drop_first(chan_row *c)
{
    rec_hdr *h = rec_at(c->first_pos);

    h->dead = 1;
    if (h->seq > c->dropped_upto) {
        c->dropped_upto = h->seq;
    }
    c->count--;
    st->messages--;
    if (c->count) {
        c->first_pos = h->next;
    }
    else {
        c->first_pos = c->last_pos = NONE;
    }
}

/* Applies the channel's history limits (count, age). A message stays
 * for DELIVERY_GRACE whatever the count, so that a burst of publishes
 * larger than the history does not outrun subscribers that read well:
 * every child's engine copies it out within milliseconds. */
static void chan_trim(chan_row *c, apr_time_t now)
{
    while (c->count) {
        apr_time_t t = rec_at(c->first_pos)->time;

        if (t >= now - c->hist_time
            && (c->count <= c->hist_max || t >= now - DELIVERY_GRACE)) {
            break;
        }
        drop_first(c);
    }
}

static void chan_maybe_free(apr_uint32_t n)
{
    chan_row *c = &CHANS()[n];

    if (c->used && c->count == 0 && c->subscribers == 0) {
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
    off = st->tail % st->ring_size;
    if (st->tail < st->head && st->ring_size - off < sizeof(rec_hdr)) {
        st->tail += st->ring_size - off;
        off = 0;
    }
    if (st->tail >= st->head) {
        return NULL;
    }
    h = rec_at(st->tail);
    if (h->size < sizeof(rec_hdr) || h->size > st->ring_size - off
        || st->tail + h->size > st->head) {
        *torn = 1;
        return NULL;
    }
    return h;
}

/* Frees the ring's oldest record; 0 when the ring is torn. */
static int evict_tail(void)
{
    apr_uint64_t before = st->tail;
    int torn;
    rec_hdr *h = tail_record(&torn);

    if (!h || st->tail != before) {
        /* Torn; or the end of the ring was passed, which may be room
         * enough already. */
        return !torn;
    }
    if (h->chan != PAD && !h->dead && h->chan < st->nchan) {
        chan_row *c = &CHANS()[h->chan];

        if (c->used && c->gen == h->gen) {
            if (c->first_pos != st->tail) {
                return 0;   /* a live record that its channel lost */
            }
            drop_first(c);
            chan_maybe_free(h->chan);
        }
    }
    st->tail += h->size;
    return 1;
}

/* Under the lock: gives back the space of the dead records at the
 * ring's tail, and of the expired ones there (a few at a time), so that
 * what is used is what is kept, and channels nobody touches still
 * expire. */
static void ring_reclaim(apr_time_t now)
{
    int expired = 0, torn;
    rec_hdr *h;

    while ((h = tail_record(&torn)) != NULL) {
        if (h->chan != PAD && !h->dead) {
            chan_row *c = h->chan < st->nchan ? &CHANS()[h->chan] : NULL;

            if (!c || !c->used || c->gen != h->gen
                || c->first_pos != st->tail || expired >= SWEEP_MAX
                || h->time >= now - c->hist_time) {
                break;
            }
            drop_first(c);
            chan_maybe_free(h->chan);
            expired++;
        }
        st->tail += h->size;
    }
    if (st->tail == st->head) {
        st->tail = st->head = 0;
    }
}

/* Under the lock: a record of need bytes at the ring's head, the
 * oldest messages evicted to make room; NONE when need is too big. */
static apr_uint64_t ring_alloc(apr_uint64_t need)
{
    for (;;) {
        apr_uint64_t off = st->head % st->ring_size;
        apr_uint64_t pad = st->ring_size - off < need
                           ? st->ring_size - off : 0;

        if (st->head - st->tail + pad + need <= st->ring_size) {
            if (pad >= sizeof(rec_hdr)) {
                rec_hdr *h = rec_at(st->head);

                memset(h, 0, sizeof(*h));
                h->size = (apr_uint32_t)pad;
                h->chan = PAD;
            }
            st->head += pad;
            st->head += need;
            return st->head - need;
        }
        if (st->head == st->tail || !evict_tail()) {
            /* Nothing left to evict, or a torn ring: start afresh. */
            if (st->head != st->tail) {
                store_reset();
            }
            st->head = st->tail = 0;
            if (need > st->ring_size) {
                return NONE;
            }
        }
    }
}

/* Under the lock: the channel, or PAD. */
static apr_uint32_t lookup(const char *vhost, const char *name, int make,
                           int max_channels, apr_status_t *why)
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
        n = chan_make(v, name, max_channels);
        if (n == PAD) {
            *why = MXHR_STORE_FULL;
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
 * (MXHR_STORE_NO_CHAN: none here), for the engines (mxhr_store_changed). */
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
    /* Counted as a subscriber while its room is made, so that eviction
     * cannot free the channel under us. */
    c->subscribers++;
    pos = ring_alloc(need);
    if (!c->used || c->gen != gen) {
        /* A torn ring emptied the whole store meanwhile. */
        return APR_EGENERAL;
    }
    c->subscribers--;
    if (pos == NONE) {
        chan_maybe_free(n);
        return MXHR_STORE_TOO_BIG;
    }
    h = rec_at(pos);
    h->size = (apr_uint32_t)need;
    h->chan = n;
    h->gen = c->gen;
    h->dead = 0;
    h->seq = seq;
    h->time = t;
    h->next = NONE;
    h->meta_len = (apr_uint32_t)meta_len;
    h->body_len = (apr_uint32_t)len;
    memcpy((char *)(h + 1), content_type, ct_len + 1);
    memcpy((char *)(h + 1) + ct_len + 1, event ? event : "", ev_len + 1);
    if (len) {
        memcpy((char *)(h + 1) + meta_len, body, len);
    }
    if (c->count) {
        rec_at(c->last_pos)->next = pos;
    }
    else {
        c->first_pos = pos;
    }
    c->last_pos = pos;
    c->count++;
    st->messages++;
    chan_trim(c, apr_time_now());
    ring_reclaim(apr_time_now());
    /* Readers check last_seq without the lock: the record is whole
     * before it says so. */
    apr_atomic_set64(&c->last_seq, seq);
    note_publish(seq, n);
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
    n = lookup(vhost, name, 1, max_channels, &why);
    if (n == PAD) {
        store_unlock();
        return why;
    }
    c = &CHANS()[n];
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
    }
    chan_free(n);
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
    n = lookup(vhost, name, 0, 0, &why);
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
                                  int max_channels, mxhr_chan_ref *ref)
{
    apr_status_t why = MXHR_STORE_FULL;
    apr_uint32_t n = PAD;

    if (!st) {
        return MXHR_STORE_NONE;
    }
    if (!store_lock()) {
        return APR_EGENERAL;
    }
    if (st->sub_free) {
        n = lookup(vhost, name, 1, max_channels, &why);
    }
    if (n != PAD) {
        chan_row *c = &CHANS()[n];
        apr_uint32_t k = st->sub_free - 1;
        sub_row *r = &SUBS()[k];

        st->sub_free = r->next_free;
        r->pid = (apr_int32_t)getpid();
        r->row = my_row;
        if (my_row >= 0) {
            c->rows |= APR_UINT64_C(1) << my_row;
        }
        else {
            c->unrowed++;
        }
        r->chan = n;
        r->gen = c->gen;
        r->tag = ++st->sub_tag;
        chan_trim(c, apr_time_now());
        c->subscribers++;
        st->subscribers++;
        apr_atomic_inc32(&st->sub_changes);
        c->requested = apr_time_now();
        ref->idx = n;
        ref->gen = c->gen;
        ref->sub = k;
        ref->tag = r->tag;
    }
    store_unlock();
    return n == PAD ? why : APR_SUCCESS;
}

/* Under the lock: gives back the subscription in row k. */
static void sub_release(apr_uint32_t k)
{
    sub_row *r = &SUBS()[k];
    chan_row *c = r->chan < st->nchan ? &CHANS()[r->chan] : NULL;

    if (c && c->used && c->gen == r->gen && c->subscribers > 0) {
        if (r->row < 0 && c->unrowed > 0) {
            c->unrowed--;
        }
        c->subscribers--;
        st->subscribers--;
        apr_atomic_inc32(&st->sub_changes);
        chan_maybe_free(r->chan);
    }
    r->pid = 0;
    r->next_free = st->sub_free;
    st->sub_free = k + 1;
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
    }
    store_unlock();
}

static void store_child_status(server_rec *s, pid_t pid, ap_generation_t gen,
                               int slot, mpm_child_status state)
{
    apr_uint32_t k, n = 0;

    /* Any generation: the store outlives them. */
    if (state != MPM_CHILD_EXITED || !st || pid <= 0 || !store_lock()) {
        return;
    }
    for (k = 0; k < st->nsub; k++) {
        if (SUBS()[k].pid == (apr_int32_t)pid) {
            sub_release(k);
            n++;
        }
    }
    for (k = 0; k < ROWS; k++) {
        if (st->row_pid[k] == (apr_int32_t)pid) {
            st->row_pid[k] = 0;
        }
    }
    store_unlock();
    if (n) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, MXHR_LOGNO(054)
                     "child %" APR_PID_T_FMT " ended holding %u channel "
                     "subscriptions; given back", pid, n);
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
    apr_uint64_t pos, bytes = 0, first;
    int n = 0, skip = 0, take = 0, i;
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
    *dropped = c->dropped_upto;
    first = c->count ? c->first_pos : NONE;
    if (!live) {
        /* What the channel keeps is its last hist_max: those beyond it
         * stay a moment only for live delivery (chan_trim). */
        for (i = c->count; i > (int)c->hist_max && first != NONE; i--) {
            if (rec_at(first)->seq > *dropped) {
                *dropped = rec_at(first)->seq;
            }
            first = rec_at(first)->next;
        }
    }
    /* Which ones: count them, skip all but the last last_n, take them
     * up to limit bytes (at least one); then copy in one block. */
    for (pos = first; pos != NONE; pos = rec_at(pos)->next) {
        rec_hdr *h = rec_at(pos);

        n += h->seq > after && h->seq <= upto;
    }
    if (last_n > 0 && n > last_n) {
        skip = n - last_n;
    }
    i = 0;
    for (pos = first; pos != NONE && take < n - skip;
         pos = rec_at(pos)->next) {
        rec_hdr *h = rec_at(pos);

        if (h->seq <= after || h->seq > upto || i++ < skip) {
            continue;
        }
        if (limit && take && bytes + h->meta_len + h->body_len > limit) {
            break;
        }
        take++;
        bytes += h->meta_len + h->body_len;
    }
    *more = take < n - skip;
    if (take > 0) {
        b = malloc(sizeof(*b) + take * sizeof(mxhr_msg) + bytes);
        if (!b) {
            store_unlock();
            return APR_ENOMEM;
        }
        b->n = 0;
        b->msgs = (mxhr_msg *)(b + 1);
        p = (char *)(b->msgs + take);
        i = 0;
        for (pos = first; pos != NONE && b->n < take;
             pos = rec_at(pos)->next) {
            rec_hdr *h = rec_at(pos);
            mxhr_msg *m;

            if (h->seq <= after || h->seq > upto || i++ < skip) {
                continue;
            }
            m = &b->msgs[b->n++];
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

static apr_status_t row_release(void *data)
{
    if (st && my_row >= 0 && store_lock()) {
        if (st->row_pid[my_row] == (apr_int32_t)getpid()) {
            st->row_pid[my_row] = 0;
        }
        store_unlock();
    }
    my_row = -1;
    return APR_SUCCESS;
}

void mxhr_store_child_init(apr_pool_t *pchild)
{
    int i;

    my_row = -1;
    if (!st || !store_lock()) {
        return;
    }
    for (i = 0; i < ROWS; i++) {
        if (!st->row_pid[i]) {
            st->row_pid[i] = (apr_int32_t)getpid();
            my_row = i;
            break;
        }
    }
    store_unlock();
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
    out->used = st->head - st->tail;
    out->channels = st->channels;
    out->messages = st->messages;
    out->subscribers = st->subscribers;
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
        reset = st->store_id != 0 || st->channels != 0;
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
         * and resumes from Redis, which still keeps them. */
        apr_uint32_t i;

        for (i = 0; i < st->nchan; i++) {
            chan_row *c = &CHANS()[i];

            if (c->used && c->dropped_upto < m->id - 1) {
                c->dropped_upto = m->id - 1;
            }
        }
        res = MXHR_MIRROR_GAP;
        all = 1;
    }
    n = lookup(m->vhost, m->name, 0, 0, &why);
    if (n != PAD && m->kind == MXHR_MIRROR_DELETE) {
        chan_forget(n);
        ring_reclaim(apr_time_now());
        all = 1;
    }
    else if (n != PAD) {
        chan_row *c = &CHANS()[n];

        c->hist_max = m->hist_max > 0 ? (apr_uint32_t)m->hist_max : 1;
        c->hist_time = m->hist_time;
        if (chan_append(n, m->id, m->time, m->content_type, m->event,
                        m->body, m->len, &rows, &unrowed) != APR_SUCCESS) {
            /* Too big for this store, or torn: its readers end behind
             * and resume from Redis. */
            if (CHANS()[n].used && CHANS()[n].dropped_upto < m->id) {
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
