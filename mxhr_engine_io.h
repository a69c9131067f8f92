/* mod_mxhr: the push engine's socket I/O (event MPM).
 *
 * How one stream's bytes reach its client without blocking, apart from
 * the engine's scheduling (mxhr_engine.c), as httpd's mod_http2 keeps
 * h2_c1_io.c beside h2_c1.c:
 *  - a socket the engine owns: sendmsg() straight from the callers'
 *    buffers; what the socket does not take waits in a malloc'd buffer;
 *  - a connection kept (TLS, MxhrKeepRequest): through its output
 *    filters, with a filter above the core's that turns its blocking
 *    FLUSH into a write of what the socket takes now;
 *  - back-pressure: at most MxhrSendBuffer bytes may wait.
 * Engine thread only, like the streams it writes.
 */
#ifndef MXHR_ENGINE_IO_H
#define MXHR_ENGINE_IO_H

#include <sys/uio.h>

#include "httpd.h"
#include "apr_buckets.h"

/* One stream's way to its client. */
typedef struct {
    conn_rec *c;                /* through its filters; NULL: owned */
    int fd;                     /* the client's socket */
    int owned;                  /* fd is ours: no conn_rec, no filters */
    /* Owned: what the client has not taken waits in out (malloc'd
     * only when needed). */
    char *out;
    apr_size_t out_off, out_len, out_size;
    /* Through the filters: */
    apr_bucket_brigade *q;      /* waits until the filters are empty */
    apr_size_t queued;          /* bytes in q */
    apr_size_t handed;          /* last batch given to the filters */
    apr_size_t limit;           /* MxhrSendBuffer */
} mxhr_io;

/* What a write came to. */
typedef enum {
    MXHR_IO_OK,                 /* written, or kept for later */
    MXHR_IO_FULL,               /* over the limit: nothing taken */
    MXHR_IO_NOMEM,              /* cannot keep what the socket left */
    MXHR_IO_FAILED              /* the socket or a filter failed */
} mxhr_io_result;

/* Registers the non-blocking filter (register_hooks). */
void mxhr_io_register_hooks(void);

/* 1 when nothing but the core output filter (and ours) writes to c:
 * plain HTTP/1.x, whose socket the engine can take over. */
int mxhr_io_plain(conn_rec *c);

/* Starts io on c's filters, with at most limit bytes waiting; adds the
 * non-blocking filter to c. fd is set by the caller. */
void mxhr_io_init(mxhr_io *io, conn_rec *c, apr_size_t limit);

/* From now on io writes fd, its own descriptor, not c's filters. */
void mxhr_io_own(mxhr_io *io, int fd);

/* Bytes the client has not taken yet. */
apr_size_t mxhr_io_pending(const mxhr_io *io);

/* Writes the buffers as one piece: what the socket takes now, the rest
 * kept. One piece always goes when nothing waits, however large;
 * otherwise MXHR_IO_FULL when it would put more than the limit in
 * waiting. *rv says why on MXHR_IO_FAILED. */
mxhr_io_result mxhr_io_writev(mxhr_io *io, const struct iovec *iov, int n,
                              apr_status_t *rv);

/* Writes what the socket takes now of what waits. Through the filters,
 * c->aborted may also say the client is gone. */
apr_status_t mxhr_io_flush(mxhr_io *io);

/* Owned: reads away what the client sent (a pipelined request nobody
 * answers). APR_SUCCESS while the client is there, APR_EOF once it has
 * closed its side, or the error. */
apr_status_t mxhr_io_discard_input(mxhr_io *io);

/* Owned: closes the socket, after the end was sent (shutdown() when
 * graceful), and frees the buffer. */
void mxhr_io_close(mxhr_io *io, int graceful);

#endif /* MXHR_ENGINE_IO_H */
