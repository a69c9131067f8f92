/* mod_mxhr: the push engine's socket I/O (event MPM); see
 * mxhr_engine_io.h. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "httpd.h"
#include "http_connection.h"
#include "util_filter.h"

#include "mxhr_engine_io.h"

#define MXHR_NONBLOCK_FILTER "MXHR_NONBLOCK"

static ap_filter_rec_t *nonblock_frec;

/* ---- Through the connection's filters --------------------------------- */

int mxhr_io_plain(conn_rec *c)
{
    ap_filter_t *f = c->output_filters;

    if (f && f->frec == nonblock_frec) {
        f = f->next;
    }
    return f && !f->next;
}

/* Asks the core output filter to write what it has set aside, without
 * blocking, as the event MPM does for connections in write completion.
 * It leaves c->data_in_output_filters set while anything remains. */
static apr_status_t core_kick(conn_rec *c)
{
    ap_filter_t *f = c->output_filters;

    while (f->next) {
        f = f->next;
    }
    return f->frec->filter_func.out_func(f, NULL);
}

/* Sits just above the core output filter of a connection the engine
 * owns. A FLUSH would make the core filter wait for the client (with
 * the socket's timeout): drop it, and have the core filter write what
 * it can now instead. mod_ssl's filters above still see the FLUSH, so
 * TLS records are not held back. */
static apr_status_t nonblock_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    apr_bucket *b, *next;
    apr_status_t rv;

    for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb); b = next) {
        next = APR_BUCKET_NEXT(b);
        if (APR_BUCKET_IS_FLUSH(b)) {
            apr_bucket_delete(b);
        }
    }
    rv = ap_pass_brigade(f->next, bb);
    if (rv == APR_SUCCESS && f->c->data_in_output_filters) {
        rv = core_kick(f->c);
    }
    return rv;
}

void mxhr_io_register_hooks(void)
{
    nonblock_frec = ap_register_output_filter(MXHR_NONBLOCK_FILTER,
                                              nonblock_filter, NULL,
                                              AP_FTYPE_NETWORK - 1);
}

void mxhr_io_init(mxhr_io *io, conn_rec *c, apr_size_t limit)
{
    memset(io, 0, sizeof(*io));
    io->c = c;
    io->fd = -1;
    io->limit = limit;
    io->q = apr_brigade_create(c->pool, c->bucket_alloc);
    ap_add_output_filter(MXHR_NONBLOCK_FILTER, NULL, NULL, c);
}

/* ---- A socket of our own ---------------------------------------------- */

void mxhr_io_own(mxhr_io *io, int fd)
{
    io->fd = fd;
    io->owned = 1;
    io->c = NULL;
}

/* Writes the buffers to our socket without blocking; *sent says how
 * much went (less than all of it: the socket is full for now). */
static apr_status_t direct_send(mxhr_io *io, const struct iovec *iov,
                                int n, apr_size_t *sent)
{
    struct msghdr mh;
    ssize_t got;

    memset(&mh, 0, sizeof(mh));
    mh.msg_iov = (struct iovec *)iov;
    mh.msg_iovlen = n;
    do {
        got = sendmsg(io->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (got < 0 && errno == EINTR);
    *sent = got > 0 ? (apr_size_t)got : 0;
    if (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        return errno;
    }
    return APR_SUCCESS;
}

/* Keeps what the socket did not take; 0, or -1 without memory. */
static int direct_keep(mxhr_io *io, const char *data, apr_size_t len)
{
    if (io->out_off && io->out_len + len > io->out_size) {
        memmove(io->out, io->out + io->out_off, io->out_len - io->out_off);
        io->out_len -= io->out_off;
        io->out_off = 0;
    }
    if (io->out_len + len > io->out_size) {
        apr_size_t size = io->out_size ? io->out_size : 4096;
        char *b;

        while (size < io->out_len + len) {
            size *= 2;
        }
        b = realloc(io->out, size);
        if (!b) {
            return -1;
        }
        io->out = b;
        io->out_size = size;
    }
    memcpy(io->out + io->out_len, data, len);
    io->out_len += len;
    return 0;
}

apr_status_t mxhr_io_discard_input(mxhr_io *io)
{
    char sink[512];
    ssize_t n = recv(io->fd, sink, sizeof(sink), MSG_DONTWAIT);

    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR))) {
        return APR_SUCCESS;
    }
    return n == 0 ? APR_EOF : errno;
}

void mxhr_io_close(mxhr_io *io, int graceful)
{
    char sink[512];
    int i;

    /* Unread input would make close() reset the connection, and the
     * client might lose the end of the stream: read it away (a
     * little: a client that keeps sending is cut anyway). */
    for (i = 0; i < 8 && recv(io->fd, sink, sizeof(sink),
                              MSG_DONTWAIT) > 0; i++) {
        /* discard */
    }
    if (graceful) {
        shutdown(io->fd, SHUT_WR);
    }
    close(io->fd);
    io->fd = -1;
    free(io->out);
    io->out = NULL;
    io->out_off = io->out_len = io->out_size = 0;
}

/* ---- Either way ------------------------------------------------------- */

/* Bytes the client has not taken yet: in our buffer, or what the
 * filters hold (at most the last batch given to them) and our queue. */
apr_size_t mxhr_io_pending(const mxhr_io *io)
{
    if (io->owned) {
        return io->out_len - io->out_off;
    }
    return io->queued + (io->c->data_in_output_filters ? io->handed : 0);
}

/* Direct: our buffer. Through the filters: first what the core filter
 * holds, then, once it is empty, the queue. */
apr_status_t mxhr_io_flush(mxhr_io *io)
{
    conn_rec *c = io->c;
    apr_status_t rv = APR_SUCCESS;

    if (io->owned) {
        if (io->out_len > io->out_off) {
            struct iovec v;
            apr_size_t sent;

            v.iov_base = io->out + io->out_off;
            v.iov_len = io->out_len - io->out_off;
            rv = direct_send(io, &v, 1, &sent);
            io->out_off += sent;
            if (io->out_off == io->out_len) {
                io->out_off = io->out_len = 0;
            }
        }
        return rv;
    }
    if (c->data_in_output_filters) {
        rv = core_kick(c);
    }
    if (rv == APR_SUCCESS && !c->aborted && !c->data_in_output_filters
        && io->queued) {
        io->handed = io->queued;
        io->queued = 0;
        /* The FLUSH gets TLS records out of mod_ssl's coalescing; the
         * nonblock filter drops it before the core filter. */
        APR_BRIGADE_INSERT_TAIL(io->q, apr_bucket_flush_create(
            c->bucket_alloc));
        rv = ap_pass_brigade(c->output_filters, io->q);
        apr_brigade_cleanup(io->q);
    }
    return rv;
}

mxhr_io_result mxhr_io_writev(mxhr_io *io, const struct iovec *iov, int n,
                              apr_status_t *rv)
{
    apr_size_t pending = mxhr_io_pending(io), len = 0;
    int i;

    *rv = APR_SUCCESS;
    for (i = 0; i < n; i++) {
        len += iov[i].iov_len;
    }
    /* One part always goes when nothing waits, however large. */
    if (pending > 0 && pending + len > io->limit) {
        return MXHR_IO_FULL;
    }
    if (io->owned) {
        apr_size_t sent = 0;

        /* Nothing waits: straight from the callers' buffers, and only
         * what the socket does not take is copied. */
        if (pending == 0) {
            *rv = direct_send(io, iov, n, &sent);
            if (*rv != APR_SUCCESS) {
                return MXHR_IO_FAILED;
            }
        }
        for (i = 0; i < n; i++) {
            apr_size_t l = iov[i].iov_len;

            if (sent >= l) {
                sent -= l;
                continue;
            }
            if (direct_keep(io, (const char *)iov[i].iov_base + sent,
                            l - sent) != 0) {
                *rv = APR_ENOMEM;
                return MXHR_IO_NOMEM;
            }
            sent = 0;
        }
        return MXHR_IO_OK;
    }
    for (i = 0; i < n; i++) {
        if (iov[i].iov_len) {
            APR_BRIGADE_INSERT_TAIL(io->q, apr_bucket_heap_create(
                iov[i].iov_base, iov[i].iov_len, NULL, io->c->bucket_alloc));
        }
    }
    io->queued += len;
    *rv = mxhr_io_flush(io);
    return *rv == APR_SUCCESS ? MXHR_IO_OK : MXHR_IO_FAILED;
}
