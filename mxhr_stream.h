/* mod_mxhr: one stream's state, what feeds it, and how it is driven. */
#ifndef MXHR_STREAM_H
#define MXHR_STREAM_H

#include <sys/uio.h>

#include "httpd.h"
#include "apr_buckets.h"

#include "mxhr_config.h"
#include "mxhr_frame.h"
#include "mxhr_shared.h"

typedef struct mxhr_stream mxhr_stream;

/* Where a stream's bytes go when not through its request's filters: a
 * writer that queues the buffers for the client as one piece (the push
 * engine's socket writer). Returns MXHR_END_NONE, or why the stream
 * must end. The stream does not know who it is: the driver that owns
 * the stream sets it, so that no call runs from the stream upward. */
typedef mxhr_end_reason (*mxhr_sink_fn)(mxhr_stream *s,
                                        const struct iovec *iov, int n);

/* What a section carries. The clock is the first source; a publish
 * channel is another. produce() writes the body of section s->seq + 1
 * into buf (size bytes, MXHR_BODY_MAX) and sets *len. */
typedef struct {
    const char *name;
    apr_status_t (*produce)(mxhr_stream *s, apr_time_t now, char *buf,
                            apr_size_t size, apr_size_t *len);
} mxhr_source;

extern const mxhr_source mxhr_clock_source;

/* Everything the loop needs lives here, so that a timer callback can
 * drive the same stream one step at a time. */
struct mxhr_stream {
    request_rec *r;             /* NULL once detached from its request */
    conn_rec *c;                /* NULL once the engine owns the socket */
    apr_pool_t *pool;           /* r->pool, c->pool, or NULL: malloc'd */
    server_rec *server;         /* for log lines, and its limits */
    const char *client;         /* the client's address, for log lines */
    const char *what;           /* "GET /uri" for log lines */
    mxhr_hold hold;             /* its place and gauges */
    int aborted;                /* without c: the client is gone */
    mxhr_settings set;
    const char *boundary;
    const mxhr_source *source;
    void *source_ctx;
    apr_bucket_brigade *bb;
    apr_socket_t *csd;          /* NULL where we must not poll (HTTP/2) */
    apr_time_t start;
    apr_time_t next_due;        /* start + k * interval */
    apr_time_t end_at;          /* 0: no duration limit */
    apr_int64_t seq;            /* sections sent so far */
    apr_off_t bytes;            /* body bytes handed to the client */
    mxhr_end_reason ended;
    /* The event-MPM path (mxhr_engine.c) */
    int async;                  /* driven by the engine */
    int chunked;                /* we write the chunk framing ourselves */
    int eof_watched;            /* the engine polls for the client's EOF */
    mxhr_sink_fn sink;          /* NULL: the request's filters */
    void *sink_ctx;             /* the sink's record of this stream */
    /* Channels (mxhr_channel.c) */
    struct mxhr_sub *sub;       /* NULL: the clock */
    /* Gives the subscription back; set by whoever subscribed it, so
     * that the stream, below the subscription, never calls it. */
    void (*sub_release)(struct mxhr_sub *sub);
    int sse;                    /* text/event-stream, not multipart */
    int opened;                 /* the body's opening is sent, no part */
    apr_int64_t messages;       /* channel messages sent (MaxSections) */
    const char *close_note;     /* SSE: why it ends, if not by reason */
    apr_time_t last_part;       /* when a part last went out */
};

/* The stream lives in pool: r->pool, or c->pool for a stream that may
 * outlive its request on the engine (its strings are copied there). */
mxhr_stream *mxhr_stream_create(request_rec *r, apr_pool_t *pool,
                                const mxhr_settings *set,
                                const char *boundary,
                                const mxhr_source *source, void *ctx);

/* Frees the stream of its request: logs the request now (as a response
 * of the bytes sent so far) and lets httpd free it. Afterwards s->r is
 * NULL and the end of the stream is logged by mxhr_stream_log_end().
 * The caller owns the connection (engine thread). */
void mxhr_stream_detach(mxhr_stream *s);

/* A copy of the stream in one malloc'd block, strings included, that
 * needs neither its request nor its connection: the engine keeps it
 * when it takes the socket over. s keeps nothing to release. */
mxhr_stream *mxhr_stream_own(mxhr_stream *s);

/* The line that says how a detached stream really ended (bytes,
 * duration, why): the access log line was written when it detached. */
void mxhr_stream_log_end(mxhr_stream *s);

/* 1 once some of the body has gone: a part, or its opening alone. */
int mxhr_stream_started(const mxhr_stream *s);

/* Sends the response's headers now, through the request's filters
 * (a stream whose chunk framing is its own, before its first byte). */
mxhr_end_reason mxhr_stream_send_head(mxhr_stream *s);

/* Sends the clock's next section (made by s->source) now. */
void mxhr_stream_section(mxhr_stream *s, apr_time_t now);

/* Sends body (len bytes, of media type content_type, with the extra
 * part headers, each ending CRLF, or NULL) as the stream's next part,
 * now. Returns MXHR_END_NONE, or why the stream must end. */
mxhr_end_reason mxhr_stream_push(mxhr_stream *s, const char *content_type,
                                 const char *headers, const char *body,
                                 apr_size_t len);

/* Server-sent events: sends one event (id and event may be NULL; the
 * body is split into data lines; a body that is not UTF-8 goes base64
 * under "<event or message>-base64") now. Returns MXHR_END_NONE, or why
 * the stream must end. */
mxhr_end_reason mxhr_stream_push_event(mxhr_stream *s, const char *id,
                                       const char *event, const char *body,
                                       apr_size_t len);

/* The same with the data lines made once for every stream that sends
 * the message (mxhr_sse_data_create()): nothing is copied or encoded
 * for this stream. */
mxhr_end_reason mxhr_stream_push_event_data(mxhr_stream *s, const char *id,
                                            const char *event,
                                            const mxhr_sse_data *d);

/* Opens the body without a part (a subscription with nothing to send
 * yet): the dash-boundary, or an SSE comment; the response's headers go
 * with it. */
mxhr_end_reason mxhr_stream_open(mxhr_stream *s);

/* A heartbeat: an empty part, or an SSE comment. */
mxhr_end_reason mxhr_stream_heartbeat(mxhr_stream *s);

/* Gives back the stream's subscription, if any (once). */
void mxhr_stream_drop_sub(mxhr_stream *s);

/* Marks the stream ended without writing anything (the client is gone),
 * counted and logged as why. */
void mxhr_stream_end(mxhr_stream *s, mxhr_end_reason why);

/* Ends the stream now with its closing delimiter, counted as why. */
void mxhr_stream_close(mxhr_stream *s, mxhr_end_reason why);

/* The longest a stream waits between two looks at its client and the
 * MPM (disconnects, graceful stop), whatever its interval. */
#define MXHR_CHECK_EVERY apr_time_from_sec(1)

#endif /* MXHR_STREAM_H */
