/* mod_mxhr: the stream loop. */

#include <stdlib.h>

#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_connection.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"
#include "ap_mpm.h"

#include "mxhr_frame.h"
#include "mxhr_ids.h"
#include "mxhr_private.h"
#include "mxhr_stream.h"

static apr_status_t clock_produce(mxhr_stream *s, apr_time_t now,
                                  char *buf, apr_size_t size,
                                  apr_size_t *len)
{
    char time[512];
    apr_size_t n = mxhr_format_time(time, sizeof(time), s->set.time_kind,
                                    s->set.time_format, now);

    if (n == 0) {
        return APR_EGENERAL;
    }
    if (s->set.json) {
        n = mxhr_json_body(buf, size, s->seq + 1, time,
                           s->set.time_kind == MXHR_TIME_EPOCH_MS);
    }
    else if (n < size) {
        memcpy(buf, time, n + 1);
    }
    else {
        n = 0;
    }
    *len = n;
    return n ? APR_SUCCESS : APR_EGENERAL;
}

const mxhr_source mxhr_clock_source = { "clock", clock_produce };

mxhr_stream *mxhr_stream_create(request_rec *r, apr_pool_t *pool,
                                const mxhr_settings *set,
                                const char *boundary,
                                const mxhr_source *source, void *ctx)
{
    conn_rec *c = r->connection;
    mxhr_stream *s = apr_pcalloc(pool, sizeof(*s));

    s->r = r;
    s->c = c;
    s->pool = pool;
    s->server = r->server;
    s->client = apr_psprintf(pool, "%s:%d", c->client_ip,
                             c->client_addr ? c->client_addr->port : 0);
    s->hold.vhost = -1;
    s->set = *set;
    s->boundary = boundary;
    if (pool != r->pool) {
        /* Values from .htaccess and the random boundary live in r->pool,
         * which a detached stream outlives. */
        s->set.content_type = apr_pstrdup(pool, set->content_type);
        s->set.time_format = apr_pstrdup(pool, set->time_format);
        s->set.boundary = NULL;
        s->boundary = apr_pstrdup(pool, boundary);
    }
    s->what = apr_pstrcat(pool, r->method, " ", r->unparsed_uri, NULL);
    s->source = source;
    s->source_ctx = ctx;
    s->bb = apr_brigade_create(pool, c->bucket_alloc);
    /* An HTTP/2 stream shares its socket with others: only the master
     * connection may read it. */
    s->csd = c->master ? NULL : ap_get_conn_socket(c);
    s->start = apr_time_now();
    s->next_due = s->start;
    s->end_at = set->max_duration > 0 ? s->start + set->max_duration : 0;
    s->ended = MXHR_END_NONE;
    return s;
}

/* Logs against the request while there is one, else the connection,
 * else the server, naming the client. */
#define STREAM_LOG(s, level, rv, fmt, ...)                                 \
    do {                                                                   \
        if ((s)->r) {                                                      \
            ap_log_rerror(APLOG_MARK, level, rv, (s)->r, fmt,              \
                          __VA_ARGS__);                                    \
        }                                                                  \
        else if ((s)->c) {                                                 \
            ap_log_cerror(APLOG_MARK, level, rv, (s)->c, fmt,              \
                          __VA_ARGS__);                                    \
        }                                                                  \
        else {                                                             \
            ap_log_error(APLOG_MARK, level, rv, (s)->server,               \
                         "[client %s] " fmt, (s)->client, __VA_ARGS__);    \
        }                                                                  \
    } while (0)

mxhr_stream *mxhr_stream_own(mxhr_stream *s)
{
    apr_size_t lb = strlen(s->boundary) + 1;
    apr_size_t lc = strlen(s->set.content_type) + 1;
    apr_size_t lt = strlen(s->set.time_format) + 1;
    apr_size_t lw = strlen(s->what) + 1;
    apr_size_t li = strlen(s->client) + 1;
    mxhr_stream *o = malloc(sizeof(*o) + lb + lc + lt + lw + li);
    char *p;

    if (!o) {
        return NULL;
    }
    *o = *s;
    p = (char *)(o + 1);
    o->boundary = memcpy(p, s->boundary, lb);
    p += lb;
    o->set.content_type = memcpy(p, s->set.content_type, lc);
    p += lc;
    o->set.time_format = memcpy(p, s->set.time_format, lt);
    p += lt;
    o->what = memcpy(p, s->what, lw);
    p += lw;
    o->client = memcpy(p, s->client, li);
    o->set.boundary = NULL;
    o->r = NULL;
    o->c = NULL;
    o->pool = NULL;
    o->bb = NULL;
    o->csd = NULL;
    /* The copy holds the place, the gauges and the subscription now. */
    s->sub = NULL;
    s->hold.vhost = -1;
    s->hold.gauges = 0;
    return o;
}

void mxhr_stream_drop_sub(mxhr_stream *s)
{
    if (s->sub) {
        s->sub_release(s->sub);
        s->sub = NULL;
    }
}

void mxhr_stream_end(mxhr_stream *s, mxhr_end_reason why)
{
    mxhr_counters *k = mxhr_shared_counters();

    s->ended = why;
    mxhr_stream_drop_sub(s);
    if (k) {
        apr_atomic_inc64(&k->ended[why]);
    }
    if (s->r) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, s->r, MXHR_LOGNO(020)
                      "stream ended after %" APR_INT64_T_FMT " sections, %"
                      APR_TIME_T_FMT " ms: %s", s->seq,
                      apr_time_as_msec(apr_time_now() - s->start),
                      mxhr_end_reason_name(why));
    }
    else {
        mxhr_stream_log_end(s);
    }
}

void mxhr_stream_log_end(mxhr_stream *s)
{
    STREAM_LOG(s, APLOG_INFO, 0, MXHR_LOGNO(024) "stream end: \"%s\" %"
               APR_INT64_T_FMT " sections, %" APR_OFF_T_FMT " bytes, %"
               APR_TIME_T_FMT " ms: %s", s->what, s->seq, s->bytes,
                  apr_time_as_msec(apr_time_now() - s->start),
                  mxhr_end_reason_name(s->ended));
}

/* Passes what is in the brigade with a FLUSH: MXHR_END_NONE when sent,
 * else why the stream must end: the client left, or it stopped reading
 * (the write timed out). Either is normal for a stream: TRACE, not
 * ERROR. */
static mxhr_end_reason pass_flush(mxhr_stream *s, ap_filter_t *to)
{
    conn_rec *c = s->c;
    apr_status_t rv;

    APR_BRIGADE_INSERT_TAIL(s->bb, apr_bucket_flush_create(c->bucket_alloc));
    rv = ap_pass_brigade(to, s->bb);
    apr_brigade_cleanup(s->bb);
    if (rv != APR_SUCCESS || c->aborted) {
        STREAM_LOG(s, APLOG_TRACE1, rv, MXHR_LOGNO(021) "client gone while "
                   "sending section %" APR_INT64_T_FMT, s->seq + 1);
        return APR_STATUS_IS_TIMEUP(rv) ? MXHR_END_SLOW : MXHR_END_CLIENT;
    }
    return MXHR_END_NONE;
}

/* The most buffers a piece of the body comes in (a pushed part's
 * headers, body and delimiter). */
#define MXHR_IOV_MAX 3

/* A part has gone: count it. */
static void part_sent(mxhr_stream *s)
{
    mxhr_counters *k = mxhr_shared_counters();

    s->seq++;
    s->last_part = apr_time_now();
    if (k) {
        apr_atomic_inc64(&k->sections_sent);
    }
}

/* Sends the n buffers as one piece of the body, now; with_last adds
 * the last chunk that ends a chunked body. On HTTP/1.1 streams meant
 * for the engine the chunk framing is ours (mod_mxhr sets
 * Transfer-Encoding itself, so httpd adds no CHUNK filter) and the body
 * goes below the request's filters. Returns MXHR_END_NONE, or why the
 * stream must end. */
static mxhr_end_reason stream_writev(mxhr_stream *s, const struct iovec *v,
                                     int n, int with_last)
{
    static const char crlf_last[] = "\r\n0\r\n\r\n";
    struct iovec all[MXHR_IOV_MAX + 2];
    char size[20];
    apr_size_t len = 0;
    mxhr_end_reason failed;
    int i, k = 0;

    AP_DEBUG_ASSERT(n <= MXHR_IOV_MAX);
    for (i = 0; i < n; i++) {
        len += v[i].iov_len;
    }
    if (s->chunked && len == 0) {
        /* No data: the last chunk alone (an empty chunk is the last). */
        all[k].iov_base = (void *)(crlf_last + 2);
        all[k++].iov_len = with_last ? sizeof(crlf_last) - 3 : 0;
    }
    else if (s->chunked) {
        all[k].iov_base = size;
        all[k++].iov_len = apr_snprintf(size, sizeof(size), "%"
                                        APR_UINT64_T_HEX_FMT "\r\n",
                                        (apr_uint64_t)len);
    }
    if (n) {
        memcpy(all + k, v, n * sizeof(*v));
        k += n;
    }
    if (s->chunked && len) {
        all[k].iov_base = (void *)crlf_last;
        all[k++].iov_len = with_last ? sizeof(crlf_last) - 1 : 2;
    }
    if (s->sink) {
        failed = s->sink(s, all, k);
    }
    else {
        /* Transient: filters that keep the data past this call (set it
         * aside) copy it first. */
        for (i = 0; i < k; i++) {
            APR_BRIGADE_INSERT_TAIL(s->bb, apr_bucket_transient_create(
                all[i].iov_base, all[i].iov_len, s->c->bucket_alloc));
        }
        failed = pass_flush(s, s->chunked ? s->c->output_filters
                                          : s->r->output_filters);
    }
    if (failed == MXHR_END_NONE) {
        s->bytes += len;
        if (s->r && (s->sink || s->chunked)) {
            /* The request's filters, which count it, were bypassed. */
            s->r->bytes_sent += len;
        }
    }
    return failed;
}

static mxhr_end_reason stream_write(mxhr_stream *s, const char *data,
                                    apr_size_t len, int with_last)
{
    struct iovec v;

    v.iov_base = (void *)data;
    v.iov_len = len;
    return stream_writev(s, &v, 1, with_last);
}

static mxhr_end_reason write_event(mxhr_stream *s, const char *id,
                                   const char *event, const char *body,
                                   apr_size_t len, int is_part);
static mxhr_end_reason write_event_data(mxhr_stream *s, const char *id,
                                        const char *event,
                                        const mxhr_sse_data *d,
                                        int is_part);

int mxhr_stream_started(const mxhr_stream *s)
{
    return s->seq > 0 || s->opened;
}

/* The closing delimiter: the last part already sent CRLF "--B". An
 * event stream just ends (its last chunk). */
void mxhr_stream_close(mxhr_stream *s, mxhr_end_reason why)
{
    mxhr_end_reason failed;

    if (s->sse) {
        /* EventSource reconnects by itself when the body ends: say why
         * it ended, so that a page can stop for good (limit, deleted) or
         * let it come back (restart, behind). */
        static const char *const note[] = {
            "", "client", "limit", "restart", "behind", "error"
        };
        const char *why_note = s->close_note ? s->close_note
                               : note[why <= MXHR_END_ERROR ? why : 0];

        if (mxhr_stream_started(s) && *why_note) {
            failed = write_event(s, NULL, "mxhr-close", why_note,
                                 strlen(why_note), 0);
            if (failed != MXHR_END_NONE) {
                why = failed;
            }
        }
        if (s->chunked && mxhr_stream_started(s) && !s->aborted) {
            /* The last chunk alone: nothing before it. */
            failed = stream_writev(s, NULL, 0, 1);
            if (failed != MXHR_END_NONE) {
                why = failed;
            }
        }
    }
    else if (mxhr_stream_started(s)) {
        failed = stream_write(s, MXHR_CLOSE_TAIL,
                              sizeof(MXHR_CLOSE_TAIL) - 1, 1);
        if (failed != MXHR_END_NONE) {
            why = failed;
        }
    }
    mxhr_stream_end(s, why);
}

mxhr_end_reason mxhr_stream_push(mxhr_stream *s, const char *content_type,
                                 const char *headers, const char *body,
                                 apr_size_t len)
{
    int first = s->seq == 0 && !s->opened;
    apr_size_t head_size = mxhr_part_head_size(s->boundary, first,
                                               content_type, headers);
    char *head = malloc(head_size);
    char tail[4 + MXHR_BOUNDARY_MAX + 1];
    struct iovec v[3];
    mxhr_end_reason failed;

    if (!head) {
        return MXHR_END_ERROR;
    }
    /* The body goes from the caller's buffer, never copied. */
    v[0].iov_base = head;
    v[0].iov_len = mxhr_part_head(head, head_size, s->boundary, first,
                                  content_type, len, s->seq + 1, headers);
    v[1].iov_base = (void *)body;
    v[1].iov_len = len;
    v[2].iov_base = tail;
    v[2].iov_len = apr_snprintf(tail, sizeof(tail), "\r\n--%s", s->boundary);
    failed = v[0].iov_len ? stream_writev(s, v, 3, 0) : MXHR_END_ERROR;
    free(head);
    if (failed == MXHR_END_NONE) {
        part_sent(s);
    }
    return failed;
}

/* An event stream's first bytes: the retry field, if set. */
static mxhr_end_reason sse_open(mxhr_stream *s)
{
    char retry[40];

    if (!s->sse || mxhr_stream_started(s) || s->set.sse_retry <= 0) {
        return MXHR_END_NONE;
    }
    return stream_write(s, retry, apr_snprintf(retry, sizeof(retry),
                        "retry: %" APR_TIME_T_FMT "\n\n",
                        apr_time_as_msec(s->set.sse_retry)), 0);
}

mxhr_end_reason mxhr_stream_push_event(mxhr_stream *s, const char *id,
                                       const char *event, const char *body,
                                       apr_size_t len)
{
    return write_event(s, id, event, body, len, 1);
}

mxhr_end_reason mxhr_stream_push_event_data(mxhr_stream *s, const char *id,
                                            const char *event,
                                            const mxhr_sse_data *d)
{
    return write_event_data(s, id, event, d, 1);
}

/* An event whose data lines are made: its id and event lines go before
 * them, from the stack; the data goes from the shared block. is_part:
 * it counts as a section (the closing event does not, as multipart's
 * closing delimiter does not). */
static mxhr_end_reason write_event_data(mxhr_stream *s, const char *id,
                                        const char *event,
                                        const mxhr_sse_data *d, int is_part)
{
    mxhr_end_reason failed = sse_open(s);
    /* "id: " and a message id, "event: ", a name and "-base64". */
    char head[16 + MXHR_MESSAGE_ID_MAX + MXHR_EVENT_NAME_MAX + 8];
    struct iovec v[2];

    if (failed != MXHR_END_NONE) {
        return failed;
    }
    v[0].iov_base = head;
    v[0].iov_len = mxhr_sse_head(head, sizeof(head), id, event, d->base64);
    v[1].iov_base = (void *)d->data;
    v[1].iov_len = d->len;
    if (!v[0].iov_len && (id || event || d->base64)) {
        return MXHR_END_ERROR;
    }
    failed = stream_writev(s, v, 2, 0);
    if (failed == MXHR_END_NONE && is_part) {
        part_sent(s);
    }
    return failed;
}

/* An event framed here, for this stream alone (made and freed). */
static mxhr_end_reason write_event(mxhr_stream *s, const char *id,
                                   const char *event, const char *body,
                                   apr_size_t len, int is_part)
{
    mxhr_sse_data *d = mxhr_sse_data_create(body, len);
    mxhr_end_reason failed;

    if (!d) {
        return MXHR_END_ERROR;
    }
    mxhr_shared_count_encoded();
    failed = write_event_data(s, id, event, d, is_part);
    free(d);
    return failed;
}

/* An event stream's comment line (a heartbeat, invisible to
 * EventSource), after its retry field if it is the first thing sent. */
static mxhr_end_reason sse_comment(mxhr_stream *s)
{
    mxhr_end_reason failed = sse_open(s);

    if (failed == MXHR_END_NONE) {
        failed = stream_write(s, MXHR_SSE_HEARTBEAT,
                              sizeof(MXHR_SSE_HEARTBEAT) - 1, 0);
    }
    return failed;
}

mxhr_end_reason mxhr_stream_open(mxhr_stream *s)
{
    mxhr_end_reason failed = MXHR_END_NONE;
    char dash[2 + MXHR_BOUNDARY_MAX + 1];

    if (mxhr_stream_started(s)) {
        return MXHR_END_NONE;
    }
    if (s->sse) {
        failed = sse_comment(s);
    }
    else {
        /* The first part, when it comes, follows as any later one:
         * CRLF, its headers... */
        failed = stream_write(s, dash, apr_snprintf(dash, sizeof(dash),
                                                    "--%s", s->boundary), 0);
    }
    if (failed == MXHR_END_NONE) {
        s->opened = 1;
        s->last_part = apr_time_now();
    }
    return failed;
}

mxhr_end_reason mxhr_stream_heartbeat(mxhr_stream *s)
{
    mxhr_end_reason failed;

    if (!s->sse) {
        return mxhr_stream_push(s, "text/plain", "Mxhr-Heartbeat: 1\r\n",
                                "", 0);
    }
    failed = sse_comment(s);
    if (failed == MXHR_END_NONE) {
        part_sent(s);
    }
    return failed;
}

void mxhr_stream_section(mxhr_stream *s, apr_time_t now)
{
    /* On this thread's stack: a stream keeps no memory per section. */
    char body[MXHR_BODY_MAX], buf[MXHR_PART_MAX];
    apr_size_t body_len, len = 0;
    mxhr_end_reason failed;

    if (s->source->produce(s, now, body, sizeof(body), &body_len)
        != APR_SUCCESS) {
        len = 0;
    }
    else if (s->sse) {
        char id[24];

        /* The clock's id is its section number. */
        apr_snprintf(id, sizeof(id), "%" APR_INT64_T_FMT, s->seq + 1);
        if (mxhr_sse_size(id, NULL, body, body_len) <= sizeof(buf)) {
            len = mxhr_sse_event(buf, id, NULL, body, body_len);
        }
    }
    else {
        len = mxhr_part(buf, sizeof(buf), s->boundary,
                        s->seq == 0, s->set.content_type, s->seq + 1, body,
                        body_len);
    }
    if (len == 0) {
        STREAM_LOG(s, APLOG_ERR, 0, MXHR_LOGNO(022) "source '%s' could not "
                   "produce section %" APR_INT64_T_FMT " (does "
                   "MxhrTimeFormat expand to more than 511 bytes?); ending "
                   "the stream", s->source->name, s->seq + 1);
        mxhr_stream_close(s, MXHR_END_ERROR);
        return;
    }
    if (s->chunked && s->seq == 0 && s->r) {
        /* The response's headers still go through the request's
         * filters, which write them when a brigade first reaches them. */
        failed = pass_flush(s, s->r->output_filters);
        if (failed != MXHR_END_NONE) {
            mxhr_stream_end(s, failed);
            return;
        }
    }
    failed = sse_open(s);
    if (failed == MXHR_END_NONE) {
        failed = stream_write(s, buf, len, 0);
    }
    if (failed != MXHR_END_NONE) {
        mxhr_stream_end(s, failed);
        return;
    }
    part_sent(s);
}

void mxhr_stream_detach(mxhr_stream *s)
{
    request_rec *r = s->r;
    conn_rec *c = s->c;

    /* The stream and its strings live in c->pool already. */
    s->r = NULL;
    /* The event MPM gives each connection an allocator of its own,
     * which would keep the request's blocks for a next request that
     * never comes: hand them back to malloc for other connections. */
    apr_allocator_max_free_set(apr_pool_allocator_get(c->pool), 1);
    /* EOS, then EOR: the access log line is written with what was sent
     * so far, and r->pool goes back to the connection's allocator. */
    ap_finalize_request_protocol(r);
    ap_process_request_after_handler(r);
    /* The MPM's accounting of this connection reads its state when the
     * connection's pool goes: it is still a suspended one. */
    if (c->cs) {
        c->cs->state = CONN_STATE_SUSPENDED;
    }
}

mxhr_end_reason mxhr_stream_send_head(mxhr_stream *s)
{
    return pass_flush(s, s->r->output_filters);
}
