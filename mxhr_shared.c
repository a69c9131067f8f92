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

#include "mxhr_config.h"
#include "mxhr_shared.h"

APLOG_USE_MODULE(mxhr);

extern module AP_MODULE_DECLARE_DATA mxhr_module;

typedef struct {
    mxhr_counters total;
    volatile apr_uint64_t once[MXHR_ONCE_MAX];  /* hashes of keys seen */
    apr_uint32_t nslots;
    volatile apr_uint32_t vhost_streams[1];  /* nslots of them */
} mxhr_segment;

static mxhr_segment *segment;

apr_status_t mxhr_shared_init(apr_pool_t *pconf, server_rec *s)
{
    apr_shm_t *shm;
    apr_status_t rv;
    apr_uint32_t n = 0;
    apr_size_t size;
    server_rec *v;

    for (v = s; v; v = v->next) {
        mxhr_srv_conf *sc = ap_get_module_config(v->module_config,
                                                 &mxhr_module);
        sc->slot = (int)n++;
    }
    size = sizeof(mxhr_segment) + n * sizeof(apr_uint32_t);
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
    return APR_SUCCESS;
}

mxhr_counters *mxhr_shared_counters(void)
{
    return segment ? &segment->total : NULL;
}

typedef struct {
    volatile apr_uint32_t *slot;
} admission;

static apr_status_t release_place(void *data)
{
    admission *a = data;

    apr_atomic_dec32(a->slot);
    apr_atomic_dec64(&segment->total.streams_open);
    return APR_SUCCESS;
}

int mxhr_shared_admit(server_rec *s, int max, apr_pool_t *pool)
{
    mxhr_srv_conf *sc = ap_get_module_config(s->module_config, &mxhr_module);
    admission *a;
    apr_uint32_t before;

    if (!segment || sc->slot < 0 || (apr_uint32_t)sc->slot >= segment->nslots) {
        /* Not counted: a server_rec we did not see in post_config. */
        return 1;
    }
    a = apr_palloc(pool, sizeof(*a));
    a->slot = &segment->vhost_streams[sc->slot];
    /* Increment first, then check: two children racing for the last
     * place cannot both win. */
    before = apr_atomic_inc32(a->slot);
    if (max > 0 && before >= (apr_uint32_t)max) {
        apr_atomic_dec32(a->slot);
        apr_atomic_inc64(&segment->total.refused_full);
        return 0;
    }
    apr_atomic_inc64(&segment->total.streams_open);
    apr_atomic_inc64(&segment->total.streams_total);
    apr_pool_cleanup_register(pool, a, release_place, apr_pool_cleanup_null);
    return 1;
}

int mxhr_shared_once(const char *key)
{
    apr_uint64_t h = APR_UINT64_C(14695981039346656037);
    const unsigned char *p;
    int i;

    if (!segment) {
        return 1;
    }
    /* FNV-1a; 0 marks an empty slot. */
    for (p = (const unsigned char *)key; *p; p++) {
        h = (h ^ *p) * APR_UINT64_C(1099511628211);
    }
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

static apr_status_t gauge_down(void *data)
{
    apr_atomic_dec64(data);
    return APR_SUCCESS;
}

void mxhr_shared_gauge(volatile apr_uint64_t *gauge, apr_pool_t *pool)
{
    apr_atomic_inc64(gauge);
    apr_pool_cleanup_register(pool, (void *)gauge, gauge_down,
                              apr_pool_cleanup_null);
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
