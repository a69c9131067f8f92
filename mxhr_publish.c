/* mod_mxhr: the publisher, SetHandler mxhr-publish.
 *
 * Speaks nchan's publisher API, so that an application moves over by
 * changing a URL: POST/PUT a message (201 when someone was subscribed,
 * 202 when not), GET the channel's info, DELETE the channel; the answer
 * is the channel's info as JSON.
 */

#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"

#include "mxhr_channel.h"
#include "mxhr_chanstore.h"
#include "mxhr_config.h"
#include "mxhr_ids.h"
#include "mxhr_private.h"
#include "mxhr_publish.h"
#include "mxhr_store.h"
#include "mxhr_value.h"
#include "mxhr_vhost.h"

#define MXHR_PUBLISH_HANDLER "mxhr-publish"

/* A channel id in a JSON string: ids have no control characters, so
 * only the quote and the backslash need escaping. */
static const char *json_str(apr_pool_t *p, const char *s)
{
    apr_size_t n = 0;
    const char *q;
    char *out, *o;

    for (q = s; *q; q++) {
        n += (*q == '"' || *q == '\\') ? 2 : 1;
    }
    o = out = apr_palloc(p, n + 1);
    for (q = s; *q; q++) {
        if (*q == '"' || *q == '\\') {
            *o++ = '\\';
        }
        *o++ = *q;
    }
    *o = '\0';
    return out;
}

static int answer(request_rec *r, int status, const char *channel,
                  const mxhr_chan_info *info, int with_id)
{
    apr_time_t ago = info->requested
                     ? apr_time_sec(apr_time_now() - info->requested) : -1;

    r->status = status;
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (r->header_only) {
        return OK;
    }
    ap_rprintf(r, "{\"channel\": \"%s\", ", json_str(r->pool, channel));
    if (with_id) {
        ap_rprintf(r, "\"id\": \"%s\", ",
                   mxhr_message_id(r->pool, info->store, info->id));
    }
    ap_rprintf(r, "\"messages\": %u, \"requested\": %" APR_TIME_T_FMT
               ", \"subscribers\": %u, \"last_message_id\": %s%s%s}\n",
               info->messages, ago < 0 ? -1 : ago, info->subscribers,
               info->last_seq ? "\"" : "",
               info->last_seq ? mxhr_message_id(r->pool, info->store,
                                                 info->last_seq)
                              : "null",
               info->last_seq ? "\"" : "");
    return OK;
}

/* A short plain-text error body that says what is wrong. */
static int refuse(request_rec *r, int status, const char *why)
{
    mxhr_custom_text(r, status, why);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, MXHR_LOGNO(070)
                  "publish refused (%d): %s", status, why);
    return status;
}

/* Too big: for MxhrMessageMaxSize (413), or for the store (507). */
static int too_big(request_rec *r, apr_off_t len, apr_int64_t max,
                   int for_store)
{
    /* The rest of the body is not read: the connection closes. */
    r->connection->keepalive = AP_CONN_CLOSE;
    if (for_store) {
        return refuse(r, HTTP_INSUFFICIENT_STORAGE, apr_psprintf(
            r->pool, "the message (%s%" APR_OFF_T_FMT " bytes) cannot fit "
            "the channel store (MxhrStoreSize)", len < 0 ? "over " : "",
            len < 0 ? (apr_off_t)max : len));
    }
    return refuse(r, HTTP_REQUEST_ENTITY_TOO_LARGE, apr_psprintf(
        r->pool, "the message (%s%" APR_OFF_T_FMT " bytes) is larger than "
        "MxhrMessageMaxSize (%" APR_INT64_T_FMT " bytes)",
        len < 0 ? "over " : "", len < 0 ? (apr_off_t)max : len, max));
}

/* A chunked body's buffer, malloc'd so that growing it keeps no old
 * copy (a pool would keep every one); freed with the request. */
typedef struct {
    char *buf;
} body_block;

static apr_status_t body_block_free(void *data)
{
    body_block *bk = data;

    free(bk->buf);
    bk->buf = NULL;
    return APR_SUCCESS;
}

/* Reads into buf (size bytes) until the body ends or buf is full;
 * *got counts what is there. OK, or HTTP_BAD_REQUEST when the client
 * went away or its chunks were bad. */
static int read_into(request_rec *r, char *buf, apr_size_t size,
                     apr_size_t *got, int *ended)
{
    *ended = 0;
    while (*got < size) {
        long n = ap_get_client_block(r, buf + *got, size - *got);

        if (n == 0) {
            *ended = 1;
            return OK;
        }
        if (n < 0) {
            r->connection->keepalive = AP_CONN_CLOSE;
            return HTTP_BAD_REQUEST;
        }
        *got += n;
    }
    return OK;
}

/* Reads the whole body, at most max bytes (413 beyond), and no more
 * than the store can hold (507 beyond), once: with a Content-Length
 * into one buffer of that size; chunked into one that grows (doubling,
 * up to the limit) without keeping the old ones. */
static int read_body(request_rec *r, apr_int64_t max, char **body,
                     apr_size_t *len)
{
    apr_int64_t room = (apr_int64_t)mxhr_store_max_message();
    apr_int64_t cap = max < room ? max : room;
    apr_size_t size, got = 0;
    body_block *bk;
    int rv, ended;

    if ((rv = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK)) != OK) {
        return rv;
    }
    /* Refused before "100 Continue": the client need not send it. */
    if (r->remaining > cap) {
        return too_big(r, r->remaining, max, r->remaining <= max);
    }
    *body = "";
    *len = 0;
    if (!ap_should_client_block(r)) {
        return OK;
    }
    if (!r->read_chunked) {
        /* Its size is known: HTTP_IN gives no more than it, and a body
         * cut short is an error from ap_get_client_block(). */
        size = (apr_size_t)r->remaining;
        *body = apr_palloc(r->pool, size + 1);
        if ((rv = read_into(r, *body, size, &got, &ended)) != OK) {
            return rv;
        }
        *len = got;
        return OK;
    }
    bk = apr_pcalloc(r->pool, sizeof(*bk));
    apr_pool_cleanup_register(r->pool, bk, body_block_free,
                              apr_pool_cleanup_null);
    size = 0;
    for (;;) {
        /* One byte over the limit tells a body over it. */
        apr_size_t grow = size ? 2 * size : 8192;
        char *nb;

        if (grow > (apr_size_t)cap + 1) {
            grow = (apr_size_t)cap + 1;
        }
        if (grow <= size) {
            return too_big(r, -1, cap == max ? max : room, cap != max);
        }
        nb = realloc(bk->buf, grow);
        if (!nb) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, APR_ENOMEM, r,
                          MXHR_LOGNO(075) "no memory for a body of %"
                          APR_SIZE_T_FMT " bytes", grow);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        bk->buf = nb;
        size = grow;
        if ((rv = read_into(r, bk->buf, size, &got, &ended)) != OK) {
            return rv;
        }
        if (ended) {
            break;
        }
    }
    if (got > (apr_size_t)cap) {
        return too_big(r, -1, cap == max ? max : room, cap != max);
    }
    *body = got ? bk->buf : "";
    *len = got;
    return OK;
}

int mxhr_publish_message(request_rec *r, const mxhr_settings *set,
                         const char *vhost, const char *channel,
                         const char *ct, const char *event,
                         const char *body, apr_size_t len,
                         mxhr_chan_info *info, const char **why)
{
    apr_status_t rv;

    *why = NULL;
    rv = mxhr_chanstore()->publish(r, vhost, channel, set->max_channels,
                                   (int)set->history, set->history_time,
                                   ct, event, body, len, info, why);
    if (rv == MXHR_CHANSTORE_UNAVAILABLE) {
        return HTTP_SERVICE_UNAVAILABLE;
    }
    if (rv == MXHR_STORE_TOO_BIG) {
        *why = apr_psprintf(r->pool, "the message (%" APR_SIZE_T_FMT
                            " bytes) cannot fit the channel store "
                            "(MxhrStoreSize)", len);
        return HTTP_INSUFFICIENT_STORAGE;
    }
    if (rv == MXHR_STORE_FULL) {
        *why = apr_psprintf(r->pool, "no room for a new channel "
                            "(MxhrMaxChannels %d for this virtual host, or "
                            "the store's channel or virtual host table is "
                            "full: MXHR057 in the error log)",
                            set->max_channels);
        return HTTP_INSUFFICIENT_STORAGE;
    }
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, MXHR_LOGNO(071)
                      "cannot store the message");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, MXHR_LOGNO(072)
                  "published to channel \"%s\": id %s, %" APR_SIZE_T_FMT
                  " bytes, %u subscribers", channel,
                  mxhr_message_id(r->pool, info->store, info->id), len,
                  info->subscribers);
    return OK;
}

const char *mxhr_publish_check(apr_pool_t *p, const char **ct,
                               const char *event, const char *event_is)
{
    if (!*ct || !**ct) {
        *ct = "application/octet-stream";
    }
    else if (strlen(*ct) > 1024 || strpbrk(*ct, "\r\n")) {
        return "the content type must be at most 1024 bytes without CR "
               "or LF";
    }
    /* The SSE event name (nchan's X-EventSource-Event): it becomes a
     * field line, so nothing that could end the line or the field. */
    if (event && (!*event || strlen(event) > MXHR_EVENT_NAME_MAX
                  || strpbrk(event, "\r\n")
                  || !mxhr_utf8_valid(event, strlen(event)))) {
        return apr_pstrcat(p, event_is, " must be 1 to 255 bytes of UTF-8 "
                           "without CR or LF", NULL);
    }
    /* Else a publisher could forge the module's mxhr-close, or pass a
     * text body off as a binary one. */
    if (event && mxhr_event_name_reserved(event, strlen(event))) {
        return apr_pstrcat(p, event_is, ": names mxhr-... and ...-base64 "
                           "are the module's own", NULL);
    }
    return NULL;
}

static int publish(request_rec *r, const mxhr_settings *set,
                   const char *vhost, const char *channel)
{
    const char *ct = apr_table_get(r->headers_in, "Content-Type");
    const char *event = apr_table_get(r->headers_in, "X-EventSource-Event");
    mxhr_chan_info info;
    apr_size_t len = 0;
    char *body = NULL;
    const char *why = NULL;
    int st;

    if ((st = read_body(r, set->message_max, &body, &len)) != OK) {
        return st;
    }
    if ((why = mxhr_publish_check(r->pool, &ct, event,
                                  "X-EventSource-Event")) != NULL) {
        return refuse(r, HTTP_BAD_REQUEST, why);
    }
    st = mxhr_publish_message(r, set, vhost, channel, ct, event, body, len,
                              &info, &why);
    if (st != OK) {
        return why ? refuse(r, st, why) : st;
    }
    return answer(r, info.subscribers ? HTTP_CREATED : HTTP_ACCEPTED,
                  channel, &info, 1);
}

/* GET's info, or DELETE's (a 503 says why). */
static apr_status_t channel_info(request_rec *r, const char *vhost,
                                 const char *name, int forget,
                                 mxhr_chan_info *info)
{
    const char *why = NULL;
    apr_status_t rv = mxhr_chanstore()->info(r, vhost, name, forget, info,
                                             &why);

    if (rv == MXHR_CHANSTORE_UNAVAILABLE) {
        refuse(r, HTTP_SERVICE_UNAVAILABLE, why);
    }
    return rv;
}

static int mxhr_publish_handler(request_rec *r)
{
    const mxhr_dir_conf *dc;
    const mxhr_srv_conf *sc;
    mxhr_settings set;
    const char *ids[MXHR_CHANNELS_MAX], *why, *vhost;
    mxhr_chan_info info;
    apr_status_t rv;
    int n, st;

    if (!r->handler || strcmp(r->handler, MXHR_PUBLISH_HANDLER) != 0) {
        return DECLINED;
    }
    /* The 405's Allow header is built from these. */
    r->allowed |= (AP_METHOD_BIT << M_GET) | (AP_METHOD_BIT << M_POST)
                  | (AP_METHOD_BIT << M_PUT) | (AP_METHOD_BIT << M_DELETE);
    ap_allow_standard_methods(r, MERGE_ALLOW, M_GET, M_POST, M_PUT,
                              M_DELETE, -1);
    if (r->method_number != M_GET && r->method_number != M_POST
        && r->method_number != M_PUT && r->method_number != M_DELETE) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    dc = ap_get_module_config(r->per_dir_config, &mxhr_module);
    sc = ap_get_module_config(r->server->module_config, &mxhr_module);
    if (!dc->channel) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, MXHR_LOGNO(073)
                      "SetHandler mxhr-publish needs MxhrChannel (for %s)",
                      dc->dir ? dc->dir : r->uri);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (!mxhr_store_ready()) {
        return HTTP_SERVICE_UNAVAILABLE;
    }
    mxhr_settings_resolve(dc, sc, &set);
    why = mxhr_channel_ids(r, dc->channel, ids, &n);
    if (!why && n != 1) {
        why = "a message goes to one channel; MxhrChannel gave several";
    }
    if (why) {
        if (r->method_number == M_POST || r->method_number == M_PUT) {
            r->connection->keepalive = AP_CONN_CLOSE;
        }
        return refuse(r, HTTP_BAD_REQUEST, why);
    }
    vhost = mxhr_vhost_key(r);

    switch (r->method_number) {
    case M_POST:
    case M_PUT:
        return publish(r, &set, vhost, ids[0]);
    case M_DELETE:
        if ((st = ap_discard_request_body(r)) != OK) {
            return st;
        }
        rv = channel_info(r, vhost, ids[0], 1, &info);
        if (rv == MXHR_CHANSTORE_UNAVAILABLE) {
            return HTTP_SERVICE_UNAVAILABLE;
        }
        if (rv == APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, MXHR_LOGNO(074)
                          "channel \"%s\" deleted (%u messages, %u "
                          "subscribers)", ids[0], info.messages,
                          info.subscribers);
        }
        return rv == APR_SUCCESS ? answer(r, HTTP_OK, ids[0], &info, 0)
                                 : HTTP_NOT_FOUND;
    default:
        if ((st = ap_discard_request_body(r)) != OK) {
            return st;
        }
        rv = channel_info(r, vhost, ids[0], 0, &info);
        if (rv == MXHR_CHANSTORE_UNAVAILABLE) {
            return HTTP_SERVICE_UNAVAILABLE;
        }
        return rv == APR_SUCCESS ? answer(r, HTTP_OK, ids[0], &info, 0)
                                 : HTTP_NOT_FOUND;
    }
}

void mxhr_publish_register_hooks(apr_pool_t *p)
{
    ap_hook_handler(mxhr_publish_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
