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
    volatile apr_uint64_t bodies_encoded;   /* SSE data, base64 made */
} mxhr_counters;

/* Counts one message body framed for the wire (SSE data lines, or
 * base64 for a fixed boundary it holds): once per message and wake
 * where the streams of a child share it. */
void mxhr_shared_count_encoded(void);

/* Creates the segment for this generation (post_config) and numbers
 * each virtual host's slot. */
apr_status_t mxhr_shared_init(apr_pool_t *pconf, server_rec *s);

/* NULL only if post_config failed, which stops httpd anyway. */
mxhr_counters *mxhr_shared_counters(void);

/* A stream's share of the shared counts: its place in its virtual
 * host (MxhrMaxStreams) and the gauges it is counted in. Each child
 * mirrors what its streams hold in a row of its own, so that the parent
 * gives back what a crashed child held (child_status hook). */
#define MXHR_GAUGE_SUSPENDED 1u     /* on the engine: holds no thread */
#define MXHR_GAUGE_BLOCKING  2u     /* holds a thread */
typedef struct {
    int vhost;                  /* the place held, -1: none */
    unsigned gauges;            /* MXHR_GAUGE_* held */
} mxhr_hold;

/* Takes a stream place in s's virtual host into h when fewer than max
 * (0: no limit) are open. Returns 0 when full (h holds nothing). */
int mxhr_shared_take(mxhr_hold *h, server_rec *s, int max);

/* Counts h's stream in a gauge until released. */
void mxhr_shared_hold_gauge(mxhr_hold *h, unsigned gauge);

/* Gives back all h holds; safe to call again. */
void mxhr_shared_release(mxhr_hold *h);

/* Releases h when pool is cleaned up (unless released before). */
void mxhr_shared_release_with(mxhr_hold *h, apr_pool_t *pool);

/* Claims this child's row (child_init). */
void mxhr_shared_child_init(apr_pool_t *pchild, server_rec *s);

/* The parent's child_status hook. */
void mxhr_shared_register_hooks(apr_pool_t *p);

/* 1 the first time key is seen by any child of this generation, so a
 * warning is logged once, not once per child; 0 afterwards (and once
 * the table of MXHR_ONCE_MAX keys is full). */
#define MXHR_ONCE_MAX 256
int mxhr_shared_once(const char *key);

const char *mxhr_end_reason_name(mxhr_end_reason why);

#endif /* MXHR_SHARED_H */
