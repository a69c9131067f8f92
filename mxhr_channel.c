/* mod_mxhr: channel ids and subscriptions (see mxhr_channel.h). */

#include <stdlib.h>
#include <string.h>

#include "apr_lib.h"
#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"

#include "mxhr_channel.h"
#include "mxhr_config.h"
#include "mxhr_frame.h"
#include "mxhr_private.h"
#include "mxhr_redis.h"
#include "mxhr_stream.h"

/* Writes message seq's id ("<store>-<seq>") into buf; store 0: this
 * store's. */
static void format_id_of(char *buf, apr_size_t size, apr_uint64_t store,
                         apr_uint64_t seq)
{
    apr_snprintf(buf, size, "%" APR_UINT64_T_FMT "-%" APR_UINT64_T_FMT,
                 store ? store : mxhr_store_id(), seq);
}

static void format_id(char *buf, apr_size_t size, apr_uint64_t seq)
{
    format_id_of(buf, size, 0, seq);
}

const char *mxhr_message_id(apr_pool_t *p, apr_uint64_t store,
                            apr_uint64_t seq)
{
    char id[MXHR_MESSAGE_ID_MAX];

    format_id_of(id, sizeof(id), store, seq);
    return apr_pstrdup(p, id);
}

static const char *mxhr_arg_func(ap_expr_eval_ctx_t *ctx, const void *data,
                                 const char *arg)
{
    const char *v;

    if (!ctx->r) {
        return "";
    }
    v = mxhr_query_arg(ctx->p, ctx->r->args, arg);
    return v ? v : "";
}

static int mxhr_expr_lookup(ap_expr_lookup_parms *parms)
{
    if (parms->type == AP_EXPR_FUNC_STRING
        && strcasecmp(parms->name, "mxhr_arg") == 0) {
        *parms->func = mxhr_arg_func;
        *parms->data = NULL;
        return OK;
    }
    return DECLINED;
}

void mxhr_channel_register_hooks(apr_pool_t *p)
{
    ap_hook_expr_lookup(mxhr_expr_lookup, NULL, NULL, APR_HOOK_MIDDLE);
}

const char *mxhr_channel_ids(request_rec *r, const ap_expr_info_t *expr,
                             const char **ids, int *n)
{
    const char *err = NULL, *val;

    *n = 0;
    val = ap_expr_str_exec(r, expr, &err);
    if (err || !val) {
        return apr_psprintf(r->pool, "MxhrChannel could not be evaluated: "
                            "%s", err ? err : "no value");
    }
    return mxhr_channel_split(r->pool, val, ids, MXHR_CHANNELS_MAX, n);
}

/* ---- Subscriptions --------------------------------------------------- */

struct mxhr_sub {
    int n;
    mxhr_chan_ref ref[MXHR_CHANNELS_MAX];
    const char *name[MXHR_CHANNELS_MAX];
    apr_uint64_t after[MXHR_CHANNELS_MAX];  /* the backlog's start */
    int backlog;                /* still to send */
    int lost;                   /* SSE: say so in an event first */
    int replay;                 /* backlog: the last N only (0: all) */
    apr_uint64_t upto;          /* the backlog's end */
    apr_uint64_t cursor;        /* everything up to it is sent */
    apr_uint32_t resets;        /* the store's, when it started */
    /* A channel this subscription makes keeps this much (the request's
     * MxhrChannelHistory and MxhrChannelHistoryTime) until a publish
     * sets its own. */
    int hist_max;
    apr_interval_time_t hist_time;
    mxhr_redis_backlog *rb;     /* with Redis: the backlog read there */
};

/* Parses "<store>-<seq>"; 0 when it is not one of this store's. */
static int parse_id(const char *id, apr_uint64_t *seq)
{
    apr_uint64_t store, n;

    if (!mxhr_message_id_parse(id, &store, &n) || store != mxhr_store_id()
        || n > mxhr_store_last_seq()) {
        return 0;
    }
    *seq = n;
    return 1;
}

void mxhr_sub_destroy(mxhr_sub *sub)
{
    int i;

    if (!sub) {
        return;
    }
    for (i = 0; i < sub->n; i++) {
        mxhr_store_unsubscribe(&sub->ref[i]);
    }
    free(sub->rb);
    free(sub);
}

/* The client's resume position: the Last-Event-ID header, else
 * ?last_event_id= (EventSource cannot set headers on its first
 * connection); NULL when none. */
static const char *last_event_id(request_rec *r)
{
    const char *id = apr_table_get(r->headers_in, "Last-Event-ID");

    if (!id) {
        id = mxhr_query_arg(r->pool, r->args, "last_event_id");
    }
    return id && *id ? id : NULL;
}

/* Counts the stream in each of its channels here. The caller records
 * the store's reset counter before: a reset during these subscribes is
 * then seen. */
static apr_status_t subscribe_all(mxhr_sub *sub, const char *vhost,
                                  int max_channels)
{
    int i;

    for (i = 0; i < sub->n; i++) {
        mxhr_store_unsubscribe(&sub->ref[i]);
    }
    for (i = 0; i < sub->n; i++) {
        apr_status_t rv = mxhr_store_subscribe(vhost, sub->name[i],
                                               max_channels, sub->hist_max,
                                               sub->hist_time, &sub->ref[i]);

        if (rv != APR_SUCCESS) {
            /* Those not made yet hold nothing to give back. */
            memset(&sub->ref[i], 0xff, (sub->n - i) * sizeof(sub->ref[0]));
            return rv;
        }
    }
    return APR_SUCCESS;
}

/* With Redis: the stream's start (its resume, its replay) comes from
 * Redis, then the store (mirroring Redis) feeds it from that seq on. */
static apr_status_t redis_sub_create(request_rec *r, const char *vhost,
                                     mxhr_sub *sub, int max_channels,
                                     int replay, const char **why)
{
    const char *last_id = last_event_id(r);
    apr_uint32_t counts[MXHR_CHANNELS_MAX];
    apr_uint64_t epoch = 0, seq = 0;
    int mode = MXHR_REDIS_START_NEW, tries, i;
    apr_status_t rv;

    if (last_id) {
        /* One that is not an id at all is from no epoch: lost. */
        mode = MXHR_REDIS_START_RESUME;
        if (!mxhr_message_id_parse(last_id, &epoch, &seq)) {
            epoch = seq = 0;
        }
    }
    else if (replay > 0) {
        mode = MXHR_REDIS_START_REPLAY;
    }
    if ((rv = mxhr_redis_ready(r, why)) != APR_SUCCESS) {
        return rv;
    }
    for (tries = 0; tries < 2; tries++) {
        sub->resets = mxhr_store_resets();
        if ((rv = subscribe_all(sub, vhost, max_channels)) != APR_SUCCESS) {
            return rv;
        }
        for (i = 0; i < sub->n; i++) {
            counts[i] = mxhr_store_subscribers(&sub->ref[i]);
        }
        free(sub->rb);
        sub->rb = NULL;
        rv = mxhr_redis_start(r, vhost, sub->name, counts, sub->n, mode,
                              epoch, seq, replay, &sub->rb, why);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        /* Redis has a new epoch that the store has not seen yet: the
         * store starts afresh with it, and so does the stream. */
        if (sub->rb->epoch == mxhr_store_id()
            || !mxhr_store_adopt(sub->rb->epoch, sub->rb->seq)) {
            break;
        }
    }
    sub->upto = sub->cursor = sub->rb->seq;
    sub->lost = sub->rb->lost;
    sub->backlog = sub->rb->n > 0 || sub->lost;
    return APR_SUCCESS;
}

apr_status_t mxhr_sub_create(request_rec *r, const char *vhost,
                             const char **ids, int n, int max_channels,
                             int replay, mxhr_sub **out,
                             mxhr_sub_history *history, const char **why)
{
    apr_size_t names = 0;
    const char *last_id;
    apr_uint64_t resume = 0;
    int i, have_id, lost = 0, emptied = 0, tries;
    mxhr_sub *sub;
    char *p;

    for (i = 0; i < n; i++) {
        names += strlen(ids[i]) + 1;
    }
    sub = calloc(1, sizeof(*sub) + names);
    if (!sub) {
        return APR_ENOMEM;
    }
    p = (char *)(sub + 1);
    for (i = 0; i < n; i++) {
        apr_size_t l = strlen(ids[i]) + 1;

        sub->name[i] = memcpy(p, ids[i], l);
        p += l;
    }
    sub->n = n;
    {
        mxhr_settings set;

        mxhr_settings_resolve(ap_get_module_config(r->per_dir_config,
                                                   &mxhr_module),
                              ap_get_module_config(r->server->module_config,
                                                   &mxhr_module), &set);
        sub->hist_max = (int)set.history;
        sub->hist_time = set.history_time;
    }
    /* Nothing held yet: mxhr_sub_destroy() gives back nothing. */
    memset(sub->ref, 0xff, sizeof(sub->ref));
    if (mxhr_redis_enabled()) {
        apr_status_t rv = redis_sub_create(r, vhost, sub, max_channels,
                                           replay, why);

        if (rv != APR_SUCCESS) {
            mxhr_sub_destroy(sub);
            return rv;
        }
        *history = sub->lost ? MXHR_SUB_LOST : MXHR_SUB_OK;
        *out = sub;
        return APR_SUCCESS;
    }
    /* Where the stream starts, read before it is counted in any
     * channel: a message published meanwhile is then either in the
     * backlog or comes live, never neither. The store's reset counter
     * is read before that place, and again after the subscribes: a
     * store emptied in between (by a subscribe itself, too: Redis's
     * new epoch, a child that died emptying it) numbers its messages
     * from 1 again, and starting from the old store's place would skip
     * them all. */
    for (tries = 0;; tries++) {
        apr_status_t rv;

        sub->resets = mxhr_store_resets();
        /* After a reset every message of the new store is new to this
         * stream; what went with the old one may have been, too. */
        sub->upto = sub->cursor = emptied ? 0 : mxhr_store_last_seq();
        rv = subscribe_all(sub, vhost, max_channels);
        if (rv != APR_SUCCESS) {
            mxhr_sub_destroy(sub);
            return rv;
        }
        if (mxhr_store_resets() == sub->resets || tries == 2) {
            /* Emptied yet again: the stream sees its channels gone and
             * a reset, and ends for the client to resume. */
            break;
        }
        emptied = 1;
    }

    last_id = last_event_id(r);
    have_id = last_id != NULL;
    if (emptied && !have_id) {
        lost = 1;
        sub->backlog = 1;
    }
    if (have_id) {
        if (!parse_id(last_id, &resume)) {
            lost = 1;
        }
        for (i = 0; i < n && !lost; i++) {
            mxhr_batch *b = NULL;
            apr_uint64_t dropped = 0;
            int more;

            /* Still kept after it, in every channel? */
            if (mxhr_store_fetch(&sub->ref[i], resume, 0, 0, 0, 0, &b,
                                 &dropped, &more) != APR_SUCCESS
                || resume < dropped) {
                lost = 1;
            }
            free(b);
        }
        for (i = 0; i < n; i++) {
            /* Lost: from the oldest kept message. */
            sub->after[i] = lost ? 0 : resume;
        }
        if (!lost && resume > sub->upto) {
            /* Published since we looked, and the client has it. */
            sub->upto = sub->cursor = resume;
        }
        sub->backlog = 1;
    }
    else if (replay > 0) {
        sub->replay = replay;
        sub->backlog = 1;
    }
    sub->lost = lost;
    *history = lost ? MXHR_SUB_LOST : MXHR_SUB_OK;
    *out = sub;
    return APR_SUCCESS;
}

/* ---- Fetching, shared within one engine wake -------------------------- */

#define CACHE_BUCKETS 1024

/* A message's body as it goes out, made for the first stream that sends
 * it in this wake and shared by the others. */
typedef struct {
    mxhr_sse_data *sse;         /* SSE data lines */
    char *b64;                  /* multipart with a fixed boundary it holds */
    apr_size_t b64_len;
} framed_msg;

typedef struct cache_node cache_node;
struct cache_node {
    cache_node *next;
    mxhr_chan_ref ref;
    apr_uint64_t after;         /* the batch holds what follows it */
    int gone;
    apr_uint64_t dropped;
    mxhr_batch *batch;
    framed_msg *framed;         /* one per message of the batch */
};

static void node_free_batch(cache_node *c)
{
    int i;

    for (i = 0; c->framed && c->batch && i < c->batch->n; i++) {
        free(c->framed[i].sse);
        free(c->framed[i].b64);
    }
    free(c->framed);
    c->framed = NULL;
    free(c->batch);
    c->batch = NULL;
}

struct mxhr_fetch_cache {
    apr_uint64_t upto;          /* fixed for the whole wake */
    cache_node *bucket[CACHE_BUCKETS];
};

mxhr_fetch_cache *mxhr_fetch_cache_create(void)
{
    mxhr_fetch_cache *fc = calloc(1, sizeof(*fc));

    if (fc) {
        fc->upto = mxhr_store_last_seq();
    }
    return fc;
}

void mxhr_fetch_cache_destroy(mxhr_fetch_cache *fc)
{
    int i;

    if (!fc) {
        return;
    }
    for (i = 0; i < CACHE_BUCKETS; i++) {
        cache_node *c = fc->bucket[i], *next;

        for (; c; c = next) {
            next = c->next;
            node_free_batch(c);
            free(c);
        }
    }
    free(fc);
}

/* What a channel holds after "after" (up to the wake's end): from the
 * cache when a batch there starts at or before it, else fetched (and
 * cached, replacing a later-starting batch). The batch stays owned by
 * the cache. */
static apr_status_t cached_fetch(mxhr_fetch_cache *fc,
                                 const mxhr_chan_ref *ref,
                                 apr_uint64_t after, mxhr_batch **b,
                                 apr_uint64_t *dropped, framed_msg **framed)
{
    cache_node **slot = &fc->bucket[ref->idx % CACHE_BUCKETS], *c;
    apr_status_t rv;
    int more;

    for (c = *slot; c; c = c->next) {
        if (c->ref.idx == ref->idx && c->ref.gen == ref->gen) {
            break;
        }
    }
    if (c && c->after <= after) {
        *b = c->batch;
        *dropped = c->dropped;
        *framed = c->framed;
        return c->gone ? MXHR_STORE_NOTFOUND : APR_SUCCESS;
    }
    if (!c) {
        c = calloc(1, sizeof(*c));
        if (!c) {
            return APR_ENOMEM;
        }
        c->ref = *ref;
        c->next = *slot;
        *slot = c;
    }
    node_free_batch(c);
    c->after = after;
    rv = mxhr_store_fetch(ref, after, fc->upto, 0, 1, 0, &c->batch,
                          &c->dropped, &more);
    c->gone = rv == MXHR_STORE_NOTFOUND;
    if (c->batch && c->batch->n) {
        /* NULL (out of memory): each stream frames its own. */
        c->framed = calloc(c->batch->n, sizeof(*c->framed));
    }
    *b = c->batch;
    *dropped = c->dropped;
    *framed = c->framed;
    return rv;
}

int mxhr_sub_channels(const mxhr_sub *sub, const mxhr_chan_ref **refs)
{
    *refs = sub->ref;
    return sub->n;
}

int mxhr_sub_pending(const mxhr_sub *sub)
{
    int i;

    if (sub->backlog) {
        return 1;
    }
    for (i = 0; i < sub->n; i++) {
        if (mxhr_store_chan_last(&sub->ref[i]) > sub->cursor) {
            return 1;       /* new messages, or the channel is gone */
        }
    }
    return 0;
}

/* A message as a server-sent event: its id; its event name (the
 * publisher's, else the channel's when the stream has several); its
 * body as data lines (mxhr_stream_push_event() sends a body that is not
 * UTF-8 as base64). */
static mxhr_end_reason push_event(mxhr_stream *s, const mxhr_msg *m,
                                  const char *channel, framed_msg *f)
{
    const char *event = *m->event ? m->event
                                  : s->sub->n > 1 ? channel : NULL;
    char id[MXHR_MESSAGE_ID_MAX];

    format_id(id, sizeof(id), m->seq);
    if (!f) {
        return mxhr_stream_push_event(s, id, event, m->body, m->len);
    }
    if (!f->sse) {
        if (!(f->sse = mxhr_sse_data_create(m->body, m->len))) {
            return MXHR_END_ERROR;
        }
        mxhr_shared_count_encoded();
    }
    return mxhr_stream_push_event_data(s, id, event, f->sse);
}

/* f: the message's framed forms, shared in this wake (NULL: none). */
static mxhr_end_reason push_message(mxhr_stream *s, const mxhr_msg *m,
                                    const char *channel, framed_msg *f)
{
    char headers[64 + MXHR_MESSAGE_ID_MAX + MXHR_CHANNEL_NAME_MAX + 48];
    char id[MXHR_MESSAGE_ID_MAX];
    mxhr_end_reason failed;
    apr_size_t elen;
    char *enc;
    int b64;

    if (s->sse) {
        return push_event(s, m, channel, f);
    }
    b64 = mxhr_holds_delimiter(m->body, m->len, s->boundary);
    format_id(id, sizeof(id), m->seq);
    apr_snprintf(headers, sizeof(headers), "Mxhr-Id: %s\r\nMxhr-Channel: "
                 "%s\r\n%s", id, channel,
                 b64 ? "Content-Transfer-Encoding: base64\r\n" : "");
    if (!b64) {
        return mxhr_stream_push(s, m->content_type, headers, m->body,
                                m->len);
    }
    /* A fixed MxhrBoundary that the message carries: base64 has no
     * "--" and cannot end the part early. */
    if (f && f->b64) {
        return mxhr_stream_push(s, m->content_type, headers, f->b64,
                                f->b64_len);
    }
    enc = mxhr_base64_alloc(m->body, m->len, &elen);
    if (!enc) {
        return MXHR_END_ERROR;
    }
    mxhr_shared_count_encoded();
    failed = mxhr_stream_push(s, m->content_type, headers, enc, elen);
    if (f) {
        f->b64 = enc;
        f->b64_len = elen;
    }
    else {
        free(enc);
    }
    return failed;
}

/* 1 when the stream has sent its MxhrMaxSections messages. */
static int sections_done(const mxhr_stream *s)
{
    return s->set.max_sections > 0 && s->messages >= s->set.max_sections;
}

/* What a window of a pump found. */
typedef enum {
    PUMP_OK,
    PUMP_GONE,                  /* a channel was deleted */
    PUMP_BEHIND,                /* messages it has not had are gone */
    PUMP_FAILED                 /* a write failed: *failed says why */
} pump_result;

/* The most a subscription copies out of the store at once, per
 * channel, off the engine (a resume, a blocking stream): a backlog of
 * big messages goes in windows, not in one block. */
#define WINDOW_BYTES (1024 * 1024)

/* Sends, in id order, what each channel i holds in (after[i], upto]
 * (with replay, the last replay of them), up to the lowest point where
 * a channel's window was cut; *reached is that point: everything up to
 * it is sent. */
static pump_result pump_window(mxhr_stream *s, mxhr_fetch_cache *fc,
                               const apr_uint64_t *after, apr_uint64_t upto,
                               int replay, int live, apr_uint64_t *reached,
                               apr_uint64_t *first, mxhr_end_reason *failed)
{
    mxhr_sub *sub = s->sub;
    const int n = sub->n;
    mxhr_batch *b[MXHR_CHANNELS_MAX];
    framed_msg *fm[MXHR_CHANNELS_MAX];
    int next[MXHR_CHANNELS_MAX];
    apr_uint64_t bound = upto, delivered = 0;
    pump_result res = PUMP_OK;
    int i;

    for (i = 0; i < n; i++) {
        apr_uint64_t dropped = 0;
        apr_status_t rv;
        int more = 0;

        b[i] = NULL;
        fm[i] = NULL;
        next[i] = 0;
        if (fc) {
            rv = cached_fetch(fc, &sub->ref[i], after[i], &b[i], &dropped,
                              &fm[i]);
        }
        else {
            rv = mxhr_store_fetch(&sub->ref[i], after[i], upto, replay, live,
                                  WINDOW_BYTES, &b[i], &dropped, &more);
        }
        first[i] = rv == APR_SUCCESS && b[i] && b[i]->n ? b[i]->msgs[0].seq
                                                       : 0;
        if (rv == MXHR_STORE_NOTFOUND) {
            res = PUMP_GONE;
        }
        /* A resume's place (after > 0, not a replay) must still be kept
         * too: if what follows it went meanwhile, there is a gap. */
        else if (rv != APR_SUCCESS || ((live || (after[i] && !replay))
                                       && after[i] < dropped)) {
            /* Without what it has not had, it cannot go on without a
             * gap: the client resumes (and learns what is lost). */
            if (res == PUMP_OK) {
                res = PUMP_BEHIND;
            }
        }
        else if (more && b[i] && b[i]->n
                 && b[i]->msgs[b[i]->n - 1].seq < bound) {
            bound = b[i]->msgs[b[i]->n - 1].seq;
        }
    }
    while (res == PUMP_OK) {
        const mxhr_msg *m = NULL;
        int k = -1;

        for (i = 0; i < n; i++) {
            if (!b[i]) {
                continue;
            }
            /* A cached batch may start before this stream's place. */
            while (next[i] < b[i]->n && b[i]->msgs[next[i]].seq <= after[i]) {
                next[i]++;
            }
            if (next[i] < b[i]->n && b[i]->msgs[next[i]].seq <= bound
                && (!m || b[i]->msgs[next[i]].seq < m->seq)) {
                m = &b[i]->msgs[next[i]];
                k = i;
            }
        }
        if (!m || sections_done(s)) {
            break;
        }
        *failed = push_message(s, m, sub->name[k],
                               fm[k] ? &fm[k][next[k]] : NULL);
        next[k]++;
        if (*failed != MXHR_END_NONE) {
            res = PUMP_FAILED;
            break;
        }
        s->messages++;
        delivered++;
    }
    if (!fc) {
        for (i = 0; i < n; i++) {
            free(b[i]);
        }
    }
    mxhr_store_count_delivered(delivered);
    *reached = bound;
    return res;
}

/* Sends the backlog read from Redis, in id order. */
static pump_result pump_redis(mxhr_stream *s, mxhr_end_reason *failed)
{
    const mxhr_redis_backlog *rb = s->sub->rb;
    apr_uint64_t delivered = 0;
    int i;

    for (i = 0; i < rb->n; i++) {
        if (sections_done(s)) {
            break;
        }
        *failed = push_message(s, &rb->msgs[i], s->sub->name[rb->chan[i]],
                               NULL);
        if (*failed != MXHR_END_NONE) {
            return PUMP_FAILED;
        }
        s->messages++;
        delivered++;
    }
    mxhr_store_count_delivered(delivered);
    return PUMP_OK;
}

void mxhr_sub_pump(mxhr_stream *s, mxhr_fetch_cache *fc)
{
    mxhr_sub *sub = s->sub;
    apr_uint64_t after[MXHR_CHANNELS_MAX], first[MXHR_CHANNELS_MAX];
    apr_uint64_t upto, reached = 0;
    mxhr_end_reason failed = MXHR_END_NONE;
    pump_result res;
    int i, replay = 0, backlog = sub->backlog;

    if (!backlog && !mxhr_sub_pending(sub)) {
        return;
    }
    if (backlog && sub->lost && s->sse) {
        /* EventSource cannot read the response's headers. */
        sub->lost = 0;
        failed = mxhr_stream_push_event(s, NULL, "mxhr-history-lost",
                                        "lost", 4);
        if (failed != MXHR_END_NONE) {
            mxhr_stream_end(s, failed);
            return;
        }
    }
    if (backlog && sub->rb) {
        /* With Redis, the backlog was read there: it goes first. */
        res = pump_redis(s, &failed);
        free(sub->rb);
        sub->rb = NULL;
        sub->backlog = backlog = 0;
        if (res == PUMP_FAILED) {
            mxhr_stream_end(s, failed);
            return;
        }
        if (sections_done(s)) {
            mxhr_stream_close(s, MXHR_END_LIMIT);
            return;
        }
    }
    if (backlog) {
        /* On the handler's thread, before the engine: no cache. */
        fc = NULL;
        upto = sub->upto;
        replay = sub->replay;
        for (i = 0; i < sub->n; i++) {
            after[i] = replay ? 0 : sub->after[i];
        }
        sub->backlog = 0;
    }
    else {
        upto = fc ? fc->upto : mxhr_store_last_seq();
        for (i = 0; i < sub->n; i++) {
            after[i] = sub->cursor;
        }
    }
    for (;;) {
        res = pump_window(s, fc, after, upto, replay, !backlog, &reached,
                          first, &failed);
        if (res != PUMP_OK || reached >= upto || sections_done(s)) {
            break;
        }
        for (i = 0; i < sub->n; i++) {
            /* A channel goes on from the first message this window chose
             * for it (a replay's last N, a lost start's oldest kept),
             * not from older ones; one with none has no more. Then
             * from where the window was cut. */
            if (!first[i]) {
                after[i] = upto;
            }
            else if (after[i] < first[i] - 1) {
                after[i] = first[i] - 1;
            }
            if (after[i] < reached) {
                after[i] = reached;
            }
        }
        replay = 0;
    }
    switch (res) {
    case PUMP_FAILED:
        /* Ends the stream and frees sub: nothing of it is touched
         * afterwards. */
        mxhr_stream_end(s, failed);
        return;
    case PUMP_GONE:
        if (mxhr_store_resets() != sub->resets) {
            /* Not deleted: the store was emptied (Redis lost its data,
             * a child died changing it). The client resumes. */
            mxhr_stream_close(s, MXHR_END_SLOW);
            return;
        }
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s->server, MXHR_LOGNO(060)
                     "[client %s] \"%s\": channel deleted; ending the "
                     "stream", s->client, s->what);
        s->close_note = "deleted";
        mxhr_stream_close(s, MXHR_END_LIMIT);
        return;
    case PUMP_BEHIND:
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s->server, MXHR_LOGNO(061)
                     "[client %s] \"%s\": fell behind the channel's kept "
                     "history; ending the stream (the client resumes)",
                     s->client, s->what);
        mxhr_stream_close(s, MXHR_END_SLOW);
        return;
    case PUMP_OK:
        if (upto > sub->cursor) {
            sub->cursor = upto;
        }
        /* MxhrMaxSections counts a subscription's messages. */
        if (sections_done(s)) {
            mxhr_stream_close(s, MXHR_END_LIMIT);
        }
        return;
    }
}

apr_time_t mxhr_sub_heartbeat_due(const mxhr_stream *s)
{
    return s->set.heartbeat > 0 ? s->last_part + s->set.heartbeat : 0;
}

void mxhr_sub_heartbeat(mxhr_stream *s, apr_time_t now)
{
    apr_time_t due = mxhr_sub_heartbeat_due(s);
    mxhr_end_reason failed = MXHR_END_NONE;

    if (s->seq == 0 && !s->opened) {
        /* Nothing to send yet: the body opens at once, without a part,
         * so that the client sees the response now. */
        failed = mxhr_stream_open(s);
    }
    else if (due && now >= due) {
        failed = mxhr_stream_heartbeat(s);
    }
    if (failed != MXHR_END_NONE) {
        mxhr_stream_end(s, failed);
    }
}
