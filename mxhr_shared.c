/* mod_mxhr: counters shared by every child of one httpd generation.
 *
 * An anonymous shared memory segment made in post_config is inherited
 * by every child forked afterwards, so plain atomics on it count across
 * processes under prefork, worker and event alike. A new segment comes
 * with each restart; the old generation keeps its own until it exits.
 */

#include "apr_shm.h"

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "ap_mpm.h"
#include "mpm_common.h"

#include <unistd.h>

#include "mxhr_config.h"
#include "mxhr_ids.h"
#include "mxhr_private.h"
#include "mxhr_shared.h"

/* What one child's streams hold now, so that the parent can give it
 * back when the child dies without releasing it (a crash, SIGKILL).
 *
 * A row is claimed by PID, not by scoreboard slot: a child does not
 * know its slot at child_init (the MPM keeps it to itself, and the
 * parent writes the PID into the scoreboard only after the fork), and
 * under worker a new child may take the slot of one of the same
 * generation that is still finishing its requests.
 *
 * A child may be killed between any two of its atomic operations, so a
 * row is only ever raised after the total and lowered before it: a row
 * never holds more than the total counts for it, and the parent can
 * subtract it without wrapping the total round (which would refuse
 * every stream of the vhost until the next restart). The worst such a
 * kill can do is leave one place taken. */
typedef struct {
    volatile apr_uint32_t pid;          /* 0: free */
    volatile apr_uint32_t gauge[2];     /* suspended, blocking */
    volatile apr_uint32_t vhost[1];     /* nslots of them */
} child_row;

typedef struct {
    mxhr_counters total;
    volatile apr_uint64_t once[MXHR_ONCE_MAX];  /* hashes of keys seen */
    apr_uint32_t nslots;
    apr_uint32_t nrows;
    apr_size_t row_size;
    apr_size_t rows_at;                 /* offset of the first row */
    volatile apr_uint32_t vhost_streams[1];  /* nslots of them */
} mxhr_segment;

static mxhr_segment *segment;
static child_row *my_row;               /* in a child, when it got one */

static child_row *row_at(apr_uint32_t i)
{
    return (child_row *)((char *)segment + segment->rows_at
                         + i * segment->row_size);
}

apr_status_t mxhr_shared_init(apr_pool_t *pconf, server_rec *s)
{
    apr_shm_t *shm;
    apr_status_t rv;
    apr_uint32_t n = 0;
    apr_size_t size, row_size, rows_at;
    int limit = 0;
    server_rec *v;

    for (v = s; v; v = v->next) {
        mxhr_srv_conf *sc = ap_get_module_config(v->module_config,
                                                 &mxhr_module);
        sc->slot = (int)n++;
    }
    /* A row for each child a generation may have at once, and as many
     * again for children replaced before the parent has seen the old
     * ones exit. */
    if (ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &limit) != APR_SUCCESS
        || limit <= 0) {
        limit = 16;
    }
    rows_at = APR_ALIGN_DEFAULT(sizeof(mxhr_segment)
                                + n * sizeof(apr_uint32_t));
    row_size = APR_ALIGN_DEFAULT(sizeof(child_row)
                                 + n * sizeof(apr_uint32_t));
    size = rows_at + 2 * (apr_size_t)limit * row_size;
    rv = apr_shm_create(&shm, size, NULL, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, MXHR_LOGNO(001)
                     "cannot create the shared counters (%" APR_SIZE_T_FMT
                     " bytes of anonymous shared memory)", size);
        return rv;
    }
    segment = apr_shm_baseaddr_get(shm);
    memset(segment, 0, size);
    segment->nslots = n;
    segment->nrows = 2 * (apr_uint32_t)limit;
    segment->row_size = row_size;
    segment->rows_at = rows_at;
    return APR_SUCCESS;
}

mxhr_counters *mxhr_shared_counters(void)
{
    return segment ? &segment->total : NULL;
}

void mxhr_shared_child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_uint32_t i, pid = (apr_uint32_t)getpid();

    my_row = NULL;
    if (!segment) {
        return;
    }
    for (i = 0; i < segment->nrows; i++) {
        if (apr_atomic_cas32(&row_at(i)->pid, pid, 0) == 0) {
            my_row = row_at(i);
            return;
        }
    }
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, MXHR_LOGNO(002)
                 "no free row in the shared counters for this child: "
                 "its streams are not given back if it crashes");
}

static volatile apr_uint64_t *gauge_total(unsigned gauge)
{
    return gauge == MXHR_GAUGE_SUSPENDED ? &segment->total.streams_suspended
                                         : &segment->total.streams_blocking;
}

int mxhr_shared_take(mxhr_hold *h, server_rec *s, int max)
{
    mxhr_srv_conf *sc = ap_get_module_config(s->module_config, &mxhr_module);
    volatile apr_uint32_t *slot;
    apr_uint32_t before;

    h->vhost = -1;
    h->gauges = 0;
    if (!segment || sc->slot < 0 || (apr_uint32_t)sc->slot >= segment->nslots) {
        /* Not counted: a server_rec we did not see in post_config. */
        return 1;
    }
    slot = &segment->vhost_streams[sc->slot];
    /* Increment first, then check: two children racing for the last
     * place cannot both win. */
    before = apr_atomic_inc32(slot);
    if (max > 0 && before >= (apr_uint32_t)max) {
        apr_atomic_dec32(slot);
        apr_atomic_inc64(&segment->total.refused_full);
        return 0;
    }
    /* The row after the total: see child_row. */
    if (my_row) {
        apr_atomic_inc32(&my_row->vhost[sc->slot]);
    }
    h->vhost = sc->slot;
    apr_atomic_inc64(&segment->total.streams_open);
    apr_atomic_inc64(&segment->total.streams_total);
    return 1;
}

void mxhr_shared_hold_gauge(mxhr_hold *h, unsigned gauge)
{
    if (!segment || (h->gauges & gauge)) {
        return;
    }
    h->gauges |= gauge;
    apr_atomic_inc64(gauge_total(gauge));
    if (my_row) {
        apr_atomic_inc32(&my_row->gauge[gauge == MXHR_GAUGE_BLOCKING]);
    }
}

void mxhr_shared_release(mxhr_hold *h)
{
    unsigned g;

    if (!segment) {
        return;
    }
    /* The row before the totals: see child_row. */
    for (g = MXHR_GAUGE_SUSPENDED; g <= MXHR_GAUGE_BLOCKING; g <<= 1) {
        if (h->gauges & g) {
            if (my_row) {
                apr_atomic_dec32(&my_row->gauge[g == MXHR_GAUGE_BLOCKING]);
            }
            apr_atomic_dec64(gauge_total(g));
        }
    }
    h->gauges = 0;
    if (h->vhost >= 0) {
        if (my_row) {
            apr_atomic_dec32(&my_row->vhost[h->vhost]);
        }
        apr_atomic_dec32(&segment->vhost_streams[h->vhost]);
        apr_atomic_dec64(&segment->total.streams_open);
        h->vhost = -1;
    }
}

static apr_status_t release_cleanup(void *data)
{
    mxhr_shared_release(data);
    return APR_SUCCESS;
}

void mxhr_shared_release_with(mxhr_hold *h, apr_pool_t *pool)
{
    apr_pool_cleanup_register(pool, h, release_cleanup,
                              apr_pool_cleanup_null);
}

/* In the parent: a child of this generation has exited. What its row
 * still holds, its streams never released: give it back. */
static void mxhr_child_status(server_rec *s, pid_t pid, ap_generation_t gen,
                              int slot, mpm_child_status state)
{
    int cur = -1;
    apr_uint32_t i, j, held;

    if (state != MPM_CHILD_EXITED || !segment || pid <= 0
        || ap_mpm_query(AP_MPMQ_GENERATION, &cur) != APR_SUCCESS
        || cur != gen) {
        /* An older generation's children count in its own segment,
         * which went away with it. */
        return;
    }
    for (i = 0; i < segment->nrows; i++) {
        child_row *row = row_at(i);

        if (row->pid != (apr_uint32_t)pid) {
            continue;
        }
        /* The child is gone, nobody else writes its row: each count is
         * final. Zeroed before the row is freed, so the next child to
         * claim it starts from nothing. */
        held = 0;
        for (j = 0; j < segment->nslots; j++) {
            apr_uint32_t n = apr_atomic_xchg32(&row->vhost[j], 0);

            if (n) {
                apr_atomic_sub32(&segment->vhost_streams[j], n);
                apr_atomic_add64(&segment->total.streams_open,
                                 (apr_uint64_t)0 - n);
                held += n;
            }
        }
        for (j = 0; j < 2; j++) {
            apr_uint32_t n = apr_atomic_xchg32(&row->gauge[j], 0);

            if (n) {
                apr_atomic_add64(j ? &segment->total.streams_blocking
                                   : &segment->total.streams_suspended,
                                 (apr_uint64_t)0 - n);
            }
        }
        if (held) {
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, MXHR_LOGNO(003)
                         "child %" APR_PID_T_FMT " exited holding %u "
                         "streams: their places are given back", pid, held);
        }
        apr_atomic_set32(&row->pid, 0);
        return;
    }
}

void mxhr_shared_register_hooks(apr_pool_t *p)
{
    ap_hook_child_status(mxhr_child_status, NULL, NULL, APR_HOOK_MIDDLE);
}

int mxhr_shared_once(const char *key)
{
    apr_uint64_t h;
    int i;

    if (!segment) {
        return 1;
    }
    /* 0 marks an empty slot. */
    h = mxhr_hash64(key, strlen(key), 0);
    if (h == 0) {
        h = 1;
    }
    for (i = 0; i < MXHR_ONCE_MAX; i++) {
        apr_uint64_t cur = apr_atomic_read64(&segment->once[i]);

        if (cur == h) {
            return 0;
        }
        if (cur == 0) {
            cur = apr_atomic_cas64(&segment->once[i], h, 0);
            if (cur == 0) {
                return 1;
            }
            if (cur == h) {
                return 0;
            }
            /* Another key took this slot meanwhile: look further. */
        }
    }
    return 0;
}

const char *mxhr_end_reason_name(mxhr_end_reason why)
{
    switch (why) {
    case MXHR_END_CLIENT:   return "client gone";
    case MXHR_END_LIMIT:    return "limit reached";
    case MXHR_END_SHUTDOWN: return "server stopping";
    case MXHR_END_SLOW:     return "client not reading (dropped)";
    case MXHR_END_ERROR:    return "error";
    default:                return "not ended";
    }
}

void mxhr_shared_count_encoded(void)
{
    mxhr_counters *k = mxhr_shared_counters();

    if (k) {
        apr_atomic_inc64(&k->bodies_encoded);
    }
}
