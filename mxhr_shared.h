/* mod_mxhr: counters shared by every child of one httpd generation. */
#ifndef MXHR_SHARED_H
#define MXHR_SHARED_H

#include "httpd.h"
#include "apr_atomic.h"

/* Why a stream ended, counted in the shared counters. */
typedef enum {
    MXHR_END_NONE = 0,
    MXHR_END_CLIENT,        /* the client went away */
    MXHR_END_LIMIT,         /* MxhrMaxSections / MxhrMaxDuration */
    MXHR_END_SHUTDOWN,      /* graceful restart or stop */
    MXHR_END_SLOW,          /* the client stopped reading: dropped */
    MXHR_END_ERROR          /* we could not produce a section */
} mxhr_end_reason;

typedef struct {
    volatile apr_uint64_t streams_open;     /* now, all vhosts */
    volatile apr_uint64_t streams_suspended; /* now: holding no thread */
    volatile apr_uint64_t streams_blocking;  /* now: holding a thread */
    volatile apr_uint64_t streams_total;
    volatile apr_uint64_t sections_sent;
    volatile apr_uint64_t ended[MXHR_END_ERROR + 1];
    volatile apr_uint64_t refused_full;     /* MxhrMaxStreams 503s */
} mxhr_counters;

/* Creates the segment for this generation (post_config) and numbers
 * each virtual host's slot. */
apr_status_t mxhr_shared_init(apr_pool_t *pconf, server_rec *s);

/* NULL only if post_config failed, which stops httpd anyway. */
mxhr_counters *mxhr_shared_counters(void);

/* Takes a stream place in s's virtual host when fewer than max (0: no
 * limit) are open, and releases it when pool is cleaned up. Returns 0
 * when full. */
int mxhr_shared_admit(server_rec *s, int max, apr_pool_t *pool);

/* 1 the first time key is seen by any child of this generation, so a
 * warning is logged once, not once per child; 0 afterwards (and once
 * the table of MXHR_ONCE_MAX keys is full). */
#define MXHR_ONCE_MAX 256
int mxhr_shared_once(const char *key);

/* Counts the stream in gauge (streams_suspended or streams_blocking)
 * until pool is cleaned up. */
void mxhr_shared_gauge(volatile apr_uint64_t *gauge, apr_pool_t *pool);

const char *mxhr_end_reason_name(mxhr_end_reason why);

#endif /* MXHR_SHARED_H */
