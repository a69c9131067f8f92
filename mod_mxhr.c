/* mod_mxhr: Comet server push for Apache httpd 2.4.
 *
 * SetHandler mxhr-stream turns a URL into a long-held response that
 * pushes a multipart section every interval (multipart/x-mixed-replace
 * or multipart/mixed). This file holds the module struct, the hooks and
 * what other modules may call (mod_mxhr.h); see mxhr_handler.c (the
 * stream handler), mxhr_config.c (directives),
 * mxhr_frame.c (wire format), mxhr_stream.c (the loop),
 * mxhr_engine.c (the event MPM's push engine), mxhr_shared.c
 * (counters across children), mxhr_store.c (the channels' shared
 * store), mxhr_channel.c (subscriptions) and mxhr_publish.c (the
 * publisher, SetHandler mxhr-publish).
 */

#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"

#include "mod_mxhr.h"
#include "mxhr_channel.h"
#include "mxhr_config.h"
#include "mxhr_engine.h"
#include "mxhr_frame.h"
#include "mxhr_handler.h"
/* This file defines the module (AP_DECLARE_MODULE, below). */
#define MXHR_MODULE_C
#include "mxhr_private.h"
#include "mxhr_publish.h"
#include "mxhr_redis.h"
#include "mxhr_shared.h"
#include "mxhr_status.h"
#include "mxhr_store.h"
#include "mxhr_vhost.h"

#if MXHR_PUBLISHED_ID_MAX < MXHR_MESSAGE_ID_MAX
#error "mxhr_published's id (mod_mxhr.h) cannot hold a message id"
#endif

/* Refuses an in-process publish: says why to the caller and the log. */
static int api_refuse(request_rec *r, int status, const char *why,
                      mxhr_published *out)
{
    out->why = why;
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, MXHR_LOGNO(090)
                  "in-process publish refused (%d): %s", status, why);
    return status;
}

/* The checks an HTTP publish makes of its request (mxhr_publish.c),
 * made of the caller's arguments. OK, or the status to answer. */
static int api_check(request_rec *r, const mxhr_settings *set,
                     const char *channel, const char **id,
                     const char **ct, const char *event, const char *body,
                     apr_size_t len, mxhr_published *out)
{
    const char *why, *ids[MXHR_CHANNELS_MAX];
    int n;

    if (!channel) {
        return api_refuse(r, HTTP_BAD_REQUEST, "no channel id", out);
    }
    why = mxhr_channel_split(r->pool, channel, ids, MXHR_CHANNELS_MAX, &n);
    if (!why && n != 1) {
        why = "a message goes to one channel; the id names several";
    }
    if (why) {
        return api_refuse(r, HTTP_BAD_REQUEST, why, out);
    }
    *id = ids[0];
    if ((why = mxhr_publish_check(r->pool, ct, event, "the event name"))
        != NULL) {
        return api_refuse(r, HTTP_BAD_REQUEST, why, out);
    }
    if (!body && len) {
        return api_refuse(r, HTTP_BAD_REQUEST, "no body but a length", out);
    }
    if ((apr_uint64_t)len > (apr_uint64_t)set->message_max) {
        return api_refuse(r, HTTP_REQUEST_ENTITY_TOO_LARGE, apr_psprintf(
            r->pool, "the message (%" APR_SIZE_T_FMT " bytes) is larger "
            "than MxhrMessageMaxSize (%" APR_INT64_T_FMT " bytes)", len,
            set->message_max), out);
    }
    if (!mxhr_store_ready()) {
        return api_refuse(r, HTTP_SERVICE_UNAVAILABLE, "there is no channel "
                          "store (see the log at the server's start)", out);
    }
    if (len > mxhr_store_max_message()) {
        return api_refuse(r, HTTP_INSUFFICIENT_STORAGE, apr_psprintf(
            r->pool, "the message (%" APR_SIZE_T_FMT " bytes) cannot fit "
            "the channel store (MxhrStoreSize)", len), out);
    }
    return OK;
}

/* For other modules (mod_mxhr.h): an HTTP publish without the HTTP. */
static int mxhr_publish(request_rec *r, const char *channel,
                        const char *content_type, const char *event,
                        const char *body, apr_size_t len,
                        mxhr_published *out)
{
    mxhr_published none;
    mxhr_settings set;
    mxhr_chan_info info;
    const char *id = NULL, *vhost;
    int st;

    if (!out) {
        out = &none;
    }
    out->id[0] = '\0';
    out->subscribers = 0;
    out->why = NULL;
    if (!r) {
        out->why = "no request";
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    mxhr_settings_resolve(ap_get_module_config(r->per_dir_config,
                                               &mxhr_module),
                          ap_get_module_config(r->server->module_config,
                                               &mxhr_module), &set);
    st = api_check(r, &set, channel, &id, &content_type, event, body, len,
                   out);
    if (st != OK) {
        return st;
    }
    /* The virtual host's namespace, as the HTTP publisher takes it. */
    vhost = mxhr_vhost_key(r);
    st = mxhr_publish_message(r, &set, vhost, id, content_type, event,
                              body ? body : "", len, &info, &out->why);
    if (st != OK) {
        return out->why ? api_refuse(r, st, out->why, out) : st;
    }
    apr_cpystrn(out->id, mxhr_message_id(r->pool, info.store, info.id),
                sizeof(out->id));
    out->subscribers = info.subscribers;
    return info.subscribers ? HTTP_CREATED : HTTP_ACCEPTED;
}

static int mxhr_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                           apr_pool_t *ptemp)
{
    mxhr_config_pre_config(pconf);
    return OK;
}

static int mxhr_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                            apr_pool_t *ptemp, server_rec *s)
{
    /* The first pass only checks the configuration. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    if (mxhr_shared_init(pconf, s) != APR_SUCCESS
        || mxhr_store_init(pconf, s, mxhr_config_store_size(),
                           mxhr_redis_enabled()) != APR_SUCCESS) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    mxhr_engine_post_config(s);
    return OK;
}

static void mxhr_child_init(apr_pool_t *pchild, server_rec *s)
{
    mxhr_shared_child_init(pchild, s);
    mxhr_store_child_init(pchild);
    mxhr_engine_child_init(pchild, s);
    mxhr_redis_child_init(pchild, s);
}

static void mxhr_register_hooks(apr_pool_t *p)
{
    ap_hook_pre_config(mxhr_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(mxhr_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(mxhr_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    mxhr_handler_register_hooks(p);
    mxhr_engine_register_hooks(p);
    mxhr_shared_register_hooks(p);
    mxhr_channel_register_hooks(p);
    mxhr_store_register_hooks(p);
    mxhr_publish_register_hooks(p);
    mxhr_redis_register_hooks(p);
    mxhr_vhost_register_hooks(p);
    APR_REGISTER_OPTIONAL_FN(mxhr_publish);
    mxhr_status_register_hooks(p);
}

AP_DECLARE_MODULE(mxhr) = {
    STANDARD20_MODULE_STUFF,
    mxhr_create_dir_conf,     /* per-directory config creator */
    mxhr_merge_dir_conf,      /* per-directory config merger */
    mxhr_create_srv_conf,     /* per-server config creator */
    mxhr_merge_srv_conf,      /* per-server config merger */
    mxhr_cmds,                /* directive table */
    mxhr_register_hooks       /* hook registration */
};
