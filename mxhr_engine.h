/* mod_mxhr: the push engine (event MPM).
 *
 * One thread per child owns every stream handed to it and writes to
 * them without blocking: its own pollset waits for writability, client
 * hang-ups and wake-ups, its own timer heap for sections that are due.
 * No MPM worker is needed between sections, and no client that stops
 * reading can hold up the others. The engine schedules; how it writes
 * to a client is in mxhr_engine_io.h.
 */
#ifndef MXHR_ENGINE_H
#define MXHR_ENGINE_H

#include <sys/uio.h>

#include "httpd.h"

#include "mxhr_stream.h"

/* Registers the hooks the engine needs (suspend_connection,
 * child_stopping, its connection filter). */
void mxhr_engine_register_hooks(apr_pool_t *p);

/* Reads what the event MPM does not tell modules (post_config). */
void mxhr_engine_post_config(server_rec *s);

/* Prepares the child's engine; its thread starts with the first stream
 * (child_init). */
void mxhr_engine_child_init(apr_pool_t *pchild, server_rec *s);

/* 1 when this request's stream may be handed to the engine: event MPM,
 * HTTP/1.x without a master connection, not a subrequest, not HEAD. */
int mxhr_engine_possible(request_rec *r, const mxhr_srv_conf *sc);

/* 0 when this child can take one more stream; otherwise the number of
 * streams it holds already (the event MPM would stop accepting
 * connections in this child soon), and the caller refuses with 503. */
apr_uint32_t mxhr_engine_full(request_rec *r);

/* 1 when nothing but the core output filter (and the engine's own)
 * writes to c: plain HTTP/1.x, which the engine can take over. */
int mxhr_engine_plain(conn_rec *c);

/* Hands the stream, whose next step is due at wake, to the engine. On
 * APR_SUCCESS the handler returns SUSPENDED and never touches the
 * request again; the engine takes it once the MPM has let go of the
 * connection. Otherwise the stream goes on blocking. */
apr_status_t mxhr_engine_adopt(mxhr_stream *s, apr_time_t wake);

/* Any thread: makes the engine look at its streams now (e.g. a graceful
 * stop). */
void mxhr_engine_wake(void);

#endif /* MXHR_ENGINE_H */
