/* mod_mxhr: the stream handler, SetHandler mxhr-stream.
 *
 * A request goes through four steps, each of which may answer it:
 * negotiate (what is asked: the settings, the channels, the framing),
 * admit (whether this child may hold one more stream), subscribe (the
 * stream's channels in the store) and start (the first section, then
 * the push engine or the blocking loop).
 */

#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"

#include "mxhr_channel.h"
#include "mxhr_config.h"
#include "mxhr_drive.h"
#include "mxhr_engine.h"
#include "mxhr_frame.h"
#include "mxhr_handler.h"
#include "mxhr_private.h"
#include "mxhr_shared.h"
#include "mxhr_store.h"
#include "mxhr_stream.h"
#include "mxhr_vhost.h"

#define MXHR_HANDLER "mxhr-stream"

/* What the steps find out about a request, for the steps after them. */
typedef struct {
    const mxhr_dir_conf *dc;
    const mxhr_srv_conf *sc;
    mxhr_settings set;
    const char *ids[MXHR_CHANNELS_MAX];
    int nids;
    int sse, mixed;
    const char *media;           /* the response's media type */
    const char *boundary;
    int engine;                  /* the stream goes to the push engine */
    mxhr_hold hold;              /* its place under MxhrMaxStreams */
} mxhr_ask;

/* Says once per server generation, for all children, that a
 * directory's interval was raised to the server's floor. */
static void warn_raised_once(request_rec *r, const mxhr_dir_conf *dc,
                             const mxhr_srv_conf *sc,
                             const mxhr_settings *set)
{
    const char *dir = dc->dir ? dc->dir : r->uri;

    /* The floor is per virtual host, so is the warning. */
    if (mxhr_shared_once(apr_psprintf(r->pool, "%d|%s", sc->slot, dir))) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, MXHR_LOGNO(010)
                      "MxhrInterval for %s is below MxhrMinInterval; "
                      "raised to %" APR_TIME_T_FMT "ms", dir,
                      apr_time_as_msec(set->interval));
    }
}

/* A 503 that tells the client when to come back. */
static int refuse(request_rec *r, const mxhr_settings *set)
{
    apr_time_t secs = apr_time_sec(set->interval + APR_USEC_PER_SEC - 1);

    apr_table_setn(r->err_headers_out, "Retry-After",
                   apr_psprintf(r->pool, "%" APR_TIME_T_FMT,
                                secs > 0 ? secs : 1));
    return HTTP_SERVICE_UNAVAILABLE;
}

/* 1 when the stream ended before anything was sent (its first section
 * could not be made): the response is still ours to turn into an
 * error, and must not claim a chunked body it never sends. */
static int first_failed(request_rec *r, const mxhr_stream *s)
{
    if (s->seq > 0 || r->sent_bodyct) {
        return 0;
    }
    apr_table_unset(r->headers_out, "Transfer-Encoding");
    return 1;
}

/* What a stream that sent nothing answers: 503 if the child began to
 * stop meanwhile (the client retries with the next generation), else
 * 500. */
static int unsent_status(request_rec *r, const mxhr_stream *s,
                         const mxhr_settings *set)
{
    return s->ended == MXHR_END_SHUTDOWN ? refuse(r, set)
                                         : HTTP_INTERNAL_SERVER_ERROR;
}

/* A subscription's source has nothing to produce: its parts come from
 * the store (mxhr_channel.c). */
static const mxhr_source channel_source = { "channel", NULL };

static apr_status_t sub_cleanup(void *data)
{
    mxhr_stream_drop_sub(data);
    return APR_SUCCESS;
}

/* What is asked: the effective settings, the channels (400 when they
 * are bad), the framing from MxhrFormat or Accept, the boundary. */
static int negotiate(request_rec *r, mxhr_ask *q)
{
    q->dc = ap_get_module_config(r->per_dir_config, &mxhr_module);
    q->sc = ap_get_module_config(r->server->module_config, &mxhr_module);
    mxhr_settings_resolve(q->dc, q->sc, &q->set);
    if (q->set.interval_raised && !q->dc->channel) {
        warn_raised_once(r, q->dc, q->sc, &q->set);
    }
    q->nids = 0;
    if (q->dc->channel) {
        const char *why = mxhr_channel_ids(r, q->dc->channel, q->ids,
                                           &q->nids);

        if (why) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, MXHR_LOGNO(016)
                          "subscription refused (400): %s", why);
            mxhr_custom_text(r, HTTP_BAD_REQUEST, why);
            return HTTP_BAD_REQUEST;
        }
    }

    if (q->set.format == MXHR_FORMAT_AUTO) {
        const char *accept = apr_table_get(r->headers_in, "Accept");

        /* Caches must key on Accept, since it picks the framing. */
        apr_table_mergen(r->headers_out, "Vary", "Accept");
        q->sse = mxhr_accepts_sse(accept);
        q->mixed = !q->sse && mxhr_accepts_mixed(accept);
    }
    else {
        q->sse = q->set.format == MXHR_FORMAT_SSE;
        q->mixed = q->set.format == MXHR_FORMAT_MIXED;
    }
    q->media = q->sse ? "text/event-stream"
             : q->mixed ? "multipart/mixed" : "multipart/x-mixed-replace";

    q->boundary = q->set.boundary;
    if (!q->boundary) {
        q->boundary = mxhr_random_boundary(r->pool);
        if (!q->boundary) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, MXHR_LOGNO(011)
                          "cannot make a random boundary");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

/* Whether this child may hold one more stream (503 with Retry-After
 * when not): a store for channels, a child that is not stopping, room
 * on the push engine, room under MxhrMaxStreams (taken into q->hold). */
static int admit(request_rec *r, mxhr_ask *q)
{
    apr_uint32_t held;
    int own;

    if (q->dc->channel && !mxhr_store_ready()) {
        return refuse(r, &q->set);
    }
    /* A child that is stopping would end the stream before its first
     * section: send the client to the next generation instead. */
    if (mxhr_mpm_stopping()) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, MXHR_LOGNO(014)
                      "this child is stopping (graceful restart or stop); "
                      "refusing the stream with 503");
        return refuse(r, &q->set);
    }

    q->engine = mxhr_engine_possible(r, q->sc);
    /* Plain TCP, no request kept: the engine will own the socket, and
     * httpd's connection limits no longer apply to the stream. */
    own = q->engine && !q->set.keep_request
          && mxhr_engine_plain(r->connection);
    if (q->engine && !own && (held = mxhr_engine_full(r)) != 0) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, MXHR_LOGNO(015)
                      "this child holds %u streams, its share of the event "
                      "MPM's connections (see MXHR031); refusing the stream "
                      "with 503", held);
        return refuse(r, &q->set);
    }

    if (!r->header_only
        && !mxhr_shared_take(&q->hold, r->server, q->sc->max_streams > 0
                             ? q->sc->max_streams : 0)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, MXHR_LOGNO(012)
                      "MxhrMaxStreams (%d) reached for this virtual host; "
                      "refusing the stream with 503", q->sc->max_streams);
        return refuse(r, &q->set);
    }
    return OK;
}

/* The response's headers, the same for HEAD. */
static void set_headers(request_rec *r, const mxhr_ask *q)
{
    ap_set_content_type(r, q->sse ? "text/event-stream; charset=utf-8"
                                  : apr_psprintf(r->pool,
                                                 "%s; boundary=\"%s\"",
                                                 q->media, q->boundary));
    apr_table_setn(r->headers_out, "Cache-Control", "no-cache, no-store");
    apr_table_setn(r->headers_out, "X-Accel-Buffering", "no");
    apr_table_unset(r->headers_out, "Content-Length");
    /* Compressing filters would hold sections back until they fill a
     * block. */
    apr_table_setn(r->subprocess_env, "no-gzip", "1");
    apr_table_setn(r->subprocess_env, "no-brotli", "1");
}

/* Subscribes the stream to its channels (503 when the store or Redis
 * cannot take it; the stream's hold is given back then). */
static int subscribe(request_rec *r, mxhr_ask *q, mxhr_stream *s)
{
    mxhr_sub_history history;
    const char *why = NULL;
    apr_status_t rv = mxhr_sub_create(r, mxhr_vhost_key(r),
                                      q->ids, q->nids, q->set.max_channels,
                                      (int)q->set.replay, &s->sub,
                                      &history, &why);

    s->sub_release = mxhr_sub_destroy;
    if (rv != APR_SUCCESS && why) {
        /* Redis: logged once per outage (MXHR080). */
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, MXHR_LOGNO(019)
                      "refusing the subscription with 503: %s", why);
        mxhr_custom_text(r, HTTP_SERVICE_UNAVAILABLE, why);
        mxhr_shared_release(&s->hold);
        return refuse(r, &q->set);
    }
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, rv, r, MXHR_LOGNO(017)
                      "no room for a new channel (MxhrMaxChannels %d "
                      "for this virtual host, or the store's channel or "
                      "virtual host table is full: see MXHR057); "
                      "refusing the subscription with 503",
                      q->set.max_channels);
        mxhr_shared_release(&s->hold);
        return refuse(r, &q->set);
    }
    apr_pool_cleanup_register(s->pool, s, sub_cleanup,
                              apr_pool_cleanup_null);
    if (history == MXHR_SUB_LOST) {
        /* The app must reload its state: what it missed is gone. */
        apr_table_setn(r->headers_out, "Mxhr-History", "lost");
    }
    return OK;
}

/* Sends the first section and hands the stream to the push engine, or
 * runs it on this thread until it ends. */
static int start(request_rec *r, const mxhr_ask *q, mxhr_stream *s)
{
    s->async = q->engine;
    if (q->engine) {
        /* httpd 2.4 cannot take a connection back from the engine, so
         * it closes when the stream ends: say so, and a pipelined
         * request behind it is not left waiting. The engine writes
         * below the request's filters, so on HTTP/1.1 the chunk framing
         * is ours (httpd adds none when the header is already set). */
        r->connection->keepalive = AP_CONN_CLOSE;
        if (r->proto_num >= HTTP_VERSION(1, 1)) {
            apr_table_setn(r->headers_out, "Transfer-Encoding", "chunked");
            s->chunked = 1;
        }
    }
    if (s->sub) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, MXHR_LOGNO(018)
                      "subscription started: %s, %d channel(s) \"%s\"%s, "
                      "heartbeat every %" APR_TIME_T_FMT "ms (0: none), %s",
                      q->media, q->nids, q->ids[0],
                      q->nids > 1 ? ", ..." : "",
                      apr_time_as_msec(q->set.heartbeat),
                      s->async ? "on the push engine" : "blocking");
    }
    else {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, MXHR_LOGNO(013)
                      "stream started: %s, every %" APR_TIME_T_FMT "ms, "
                      "max %" APR_INT64_T_FMT " sections, max %"
                      APR_TIME_T_FMT "ms (0: none), source %s, %s",
                      q->media, apr_time_as_msec(q->set.interval),
                      q->set.max_sections,
                      apr_time_as_msec(q->set.max_duration),
                      s->source->name,
                      s->async ? "on the push engine" : "blocking");
    }
    if (s->async) {
        /* The first section goes out on this thread, at once. */
        apr_time_t wake = mxhr_drive_step(s, apr_time_now());

        if (!wake) {
            return first_failed(r, s) ? unsent_status(r, s, &q->set) : OK;
        }
        if (mxhr_engine_adopt(s, wake) == APR_SUCCESS) {
            return SUSPENDED;
        }
        s->async = 0;
    }
    mxhr_shared_hold_gauge(&s->hold, MXHR_GAUGE_BLOCKING);
    mxhr_drive_blocking(s);
    return first_failed(r, s) ? unsent_status(r, s, &q->set) : OK;
}

static int mxhr_handler(request_rec *r)
{
    mxhr_ask q;
    mxhr_stream *s;
    int rv;

    if (!r->handler || strcmp(r->handler, MXHR_HANDLER) != 0) {
        return DECLINED;
    }
    /* HEAD comes as M_GET with header_only set; the 405's Allow header
     * is built from allowed_methods (GET, HEAD, and TRACE when the core
     * answers it). */
    r->allowed |= (AP_METHOD_BIT << M_GET);
    ap_allow_standard_methods(r, MERGE_ALLOW, M_GET, -1);
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if ((rv = ap_discard_request_body(r)) != OK) {
        return rv;
    }
    memset(&q, 0, sizeof(q));
    if ((rv = negotiate(r, &q)) != OK || (rv = admit(r, &q)) != OK) {
        return rv;
    }
    set_headers(r, &q);
    if (r->header_only) {
        return OK;
    }

    /* A stream on the engine outlives its request: it lives in the
     * connection's pool until the engine takes it over. */
    s = mxhr_stream_create(r, q.engine ? r->connection->pool : r->pool,
                           &q.set, q.boundary, q.dc->channel
                                               ? &channel_source
                                               : &mxhr_clock_source, NULL);
    s->hold = q.hold;
    s->sse = q.sse;
    mxhr_shared_release_with(&s->hold, s->pool);
    if (q.dc->channel && (rv = subscribe(r, &q, s)) != OK) {
        return rv;
    }
    return start(r, &q, s);
}

void mxhr_handler_register_hooks(apr_pool_t *p)
{
    ap_hook_handler(mxhr_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
