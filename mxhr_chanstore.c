/* mod_mxhr: the channel store's two implementations behind one table
 * (see mxhr_chanstore.h). Each operation here only adapts the calling
 * convention; the work is in mxhr_store.c and mxhr_redis.c. */

#include "mxhr_chanstore.h"
#include "mxhr_redis.h"
#include "mxhr_store.h"

static apr_status_t shm_publish(request_rec *r, const char *vhost,
                                const char *name, int max_channels,
                                int hist_max, apr_interval_time_t hist_time,
                                const char *content_type, const char *event,
                                const char *body, apr_size_t len,
                                mxhr_chan_info *info, const char **why)
{
    return mxhr_store_publish(vhost, name, max_channels, hist_max,
                              hist_time, content_type, event, body, len,
                              info);
}

static apr_status_t shm_info(request_rec *r, const char *vhost,
                             const char *name, int forget,
                             mxhr_chan_info *info, const char **why)
{
    return forget ? mxhr_store_delete(vhost, name, info)
                  : mxhr_store_info(vhost, name, info);
}

/* Redis's errors are all "out of reach now" to the caller; the store's
 * own results pass as they are. */
static apr_status_t redis_result(apr_status_t rv)
{
    return rv == MXHR_REDIS_DOWN || rv == MXHR_REDIS_REFUSED
           ? MXHR_CHANSTORE_UNAVAILABLE : rv;
}

/* Redis keeps no channel limit of its own (MxhrMaxChannels counts the
 * subscribers' channels there, see the README). */
static apr_status_t redis_publish(request_rec *r, const char *vhost,
                                  const char *name, int max_channels,
                                  int hist_max, apr_interval_time_t hist_time,
                                  const char *content_type,
                                  const char *event, const char *body,
                                  apr_size_t len, mxhr_chan_info *info,
                                  const char **why)
{
    /* Whatever went wrong, Redis did not take it: 503. */
    return mxhr_redis_publish(r, vhost, name, hist_max, hist_time,
                              content_type, event, body, len, info, why)
           == APR_SUCCESS ? APR_SUCCESS : MXHR_CHANSTORE_UNAVAILABLE;
}

static apr_status_t redis_info(request_rec *r, const char *vhost,
                               const char *name, int forget,
                               mxhr_chan_info *info, const char **why)
{
    return redis_result(mxhr_redis_info(r, vhost, name, forget, info,
                                        why));
}

static const mxhr_chanstore_ops shm_ops = {
    "shared memory", shm_publish, shm_info
};

static const mxhr_chanstore_ops redis_ops = {
    "Redis", redis_publish, redis_info
};

const mxhr_chanstore_ops *mxhr_chanstore(void)
{
    return mxhr_redis_enabled() ? &redis_ops : &shm_ops;
}
