/* mod_mxhr: channel ids from MxhrChannel, and the subscription that
 * feeds a stream from the store. */
#ifndef MXHR_CHANNEL_H
#define MXHR_CHANNEL_H

#include "httpd.h"
#include "ap_expr.h"

#include "mxhr_store.h"

#define MXHR_CHANNELS_MAX 16

typedef struct mxhr_stream mxhr_stream_t;

/* Evaluates MxhrChannel for r into ids (up to MXHR_CHANNELS_MAX, no
 * duplicates). NULL on success, else what is wrong, for a 400. */
const char *mxhr_channel_ids(request_rec *r, const ap_expr_info_t *expr,
                             const char **ids, int *n);

/* The expression function %{mxhr_arg:NAME} (a query argument). */
void mxhr_channel_register_hooks(apr_pool_t *p);

/* A stream's subscription: malloc'd, owned by its stream. */
typedef struct mxhr_sub mxhr_sub;

/* What a subscription's start found. */
typedef enum {
    MXHR_SUB_OK = 0,
    MXHR_SUB_LOST,          /* the resume id is no longer kept */
} mxhr_sub_history;

/* Subscribes to ids in vhost: counts it in each channel, and reads the
 * resume position (Last-Event-ID header or ?last_event_id=). On
 * success *history says whether the client's history is lost. */
apr_status_t mxhr_sub_create(request_rec *r, const char *vhost,
                             const char **ids, int n, int max_channels,
                             int replay, mxhr_sub **out,
                             mxhr_sub_history *history, const char **why);

/* Unsubscribes and frees. */
void mxhr_sub_destroy(mxhr_sub *sub);

/* Messages copied once per engine wake, shared by the streams of a
 * channel (NULL: fetch for this stream alone). */
typedef struct mxhr_fetch_cache mxhr_fetch_cache;
mxhr_fetch_cache *mxhr_fetch_cache_create(void);
void mxhr_fetch_cache_destroy(mxhr_fetch_cache *fc);

/* The subscription's channels (n returned). */
int mxhr_sub_channels(const mxhr_sub *sub, const mxhr_chan_ref **refs);

/* 1 when the stream may have something to send (a lock-free look). */
int mxhr_sub_pending(const mxhr_sub *sub);

/* Sends what is new for the stream (its backlog first), in id order;
 * ends the stream (closing delimiter) when a channel is deleted or the
 * stream fell behind what is kept. The stream is ended on return when
 * s->ended is set. */
void mxhr_sub_pump(struct mxhr_stream *s, mxhr_fetch_cache *fc);

/* When the stream next needs a heartbeat (0: never). */
apr_time_t mxhr_sub_heartbeat_due(const struct mxhr_stream *s);

/* Sends a heartbeat if it is due. */
void mxhr_sub_heartbeat(struct mxhr_stream *s, apr_time_t now);

/* Formats a message id (MXHR_MESSAGE_ID_MAX: "<store>-<seq>"; store
 * 0: this store's id). */
const char *mxhr_message_id(apr_pool_t *p, apr_uint64_t store,
                            apr_uint64_t seq);

#endif /* MXHR_CHANNEL_H */
