/* mod_mxhr: the channel store as its callers see it.
 *
 * One table of operations with two implementations, chosen once per
 * server generation: the shared-memory store alone (mxhr_store.c), or
 * Redis (mxhr_redis.c), which holds the channels and ids of every server
 * using it while each server's shared-memory store mirrors what it
 * serves. A caller asks mxhr_chanstore() for the table and never which
 * one it got (as nchan's nchan_store_t: memory and Redis behind one
 * interface).
 */
#ifndef MXHR_CHANSTORE_H
#define MXHR_CHANSTORE_H

#include "httpd.h"

#include "mxhr_store.h"

/* Beyond MXHR_STORE_*: the store is out of reach now (Redis down or
 * refusing): 503, *why says why. */
#define MXHR_CHANSTORE_UNAVAILABLE APR_ECONNREFUSED

typedef struct {
    const char *name;           /* "shared memory", "Redis" */

    /* Stores a message (its type, its SSE event name or NULL, its body)
     * in channel name of vhost, made if new unless the vhost has
     * max_channels (0: no limit), keeping hist_max messages no older
     * than hist_time, and wakes its subscribers everywhere. APR_SUCCESS
     * and *info; MXHR_STORE_TOO_BIG, MXHR_STORE_FULL (507);
     * MXHR_CHANSTORE_UNAVAILABLE and *why (503); another error (500). */
    apr_status_t (*publish)(request_rec *r, const char *vhost,
                            const char *name, int max_channels,
                            int hist_max, apr_interval_time_t hist_time,
                            const char *content_type, const char *event,
                            const char *body, apr_size_t len,
                            mxhr_chan_info *info, const char **why);

    /* The channel's info; with forget, deletes it (its streams end).
     * MXHR_STORE_NOTFOUND when it has nothing and nobody;
     * MXHR_CHANSTORE_UNAVAILABLE and *why (503). */
    apr_status_t (*info)(request_rec *r, const char *vhost,
                         const char *name, int forget,
                         mxhr_chan_info *info, const char **why);
} mxhr_chanstore_ops;

/* This generation's store (MxhrRedis set: Redis). */
const mxhr_chanstore_ops *mxhr_chanstore(void);

#endif /* MXHR_CHANSTORE_H */
