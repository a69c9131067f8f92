/* mod_mxhr: channels in Redis (MxhrRedis), shared by every server that
 * uses it.
 *
 * Redis holds each channel's history and hands out the ids (its epoch
 * and its publish counter), so an id from one server resumes on
 * another. Every publish also goes into one Redis stream of all
 * publishes; each child reads it with one blocking read and copies what
 * this server serves into its shared-memory store, which feeds the
 * streams as without Redis. A subscription's start (its resume, its
 * replay) is read from Redis itself.
 */
#ifndef MXHR_REDIS_H
#define MXHR_REDIS_H

#include "httpd.h"

#include "mxhr_store.h"

/* Results other than APR_SUCCESS. */
#define MXHR_REDIS_DOWN    APR_ECONNREFUSED  /* unreachable, slow: 503 */
#define MXHR_REDIS_REFUSED APR_EGENERAL      /* an error reply: 503 */

/* 1 when MxhrRedis is set. */
int mxhr_redis_enabled(void);

/* Stores a message in Redis. *why says what went wrong otherwise. */
apr_status_t mxhr_redis_publish(request_rec *r, const char *vhost,
                                const char *name, int hist_max,
                                apr_interval_time_t hist_time,
                                const char *content_type, const char *event,
                                const char *body, apr_size_t len,
                                mxhr_chan_info *info, const char **why);

/* The channel's info (MXHR_STORE_NOTFOUND when it has nothing and
 * nobody), and with forget set, deletes it on every server. */
apr_status_t mxhr_redis_info(request_rec *r, const char *vhost,
                             const char *name, int forget,
                             mxhr_chan_info *info, const char **why);

/* What a subscription starts with, read from Redis. */
typedef struct {
    apr_uint64_t epoch;         /* Redis's, the first half of ids */
    apr_uint64_t seq;           /* the newest publish when read */
    int lost;                   /* the resume id is not kept */
    int n;                      /* messages, in id order */
    mxhr_msg *msgs;
    int *chan;                  /* each one's channel (index in ids) */
} mxhr_redis_backlog;

/* How a subscription starts. */
#define MXHR_REDIS_START_NEW    0   /* from now on */
#define MXHR_REDIS_START_RESUME 1   /* after the id (epoch, seq) */
#define MXHR_REDIS_START_REPLAY 2   /* the last replay messages */

/* Reads a subscription's start for channels ids (with this server's
 * subscriber counts, which Redis learns) into *out: one malloc'd block,
 * free() it. */
apr_status_t mxhr_redis_start(request_rec *r, const char *vhost,
                              const char **ids, const apr_uint32_t *counts,
                              int n, int mode, apr_uint64_t epoch,
                              apr_uint64_t seq, int replay,
                              mxhr_redis_backlog **out, const char **why);

/* Makes sure the store has Redis's epoch (a new server, a new Redis):
 * APR_SUCCESS, or MXHR_REDIS_DOWN. */
apr_status_t mxhr_redis_ready(request_rec *r, const char **why);

void mxhr_redis_child_init(apr_pool_t *pchild, server_rec *s);

void mxhr_redis_register_hooks(apr_pool_t *p);

#endif /* MXHR_REDIS_H */
