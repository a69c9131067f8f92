/* mod_mxhr: streams that hold no thread between sections (event MPM). */
#ifndef MXHR_ASYNC_H
#define MXHR_ASYNC_H

#include "httpd.h"

#include "mxhr_stream.h"

/* Registers the hooks this path needs (suspend_connection). */
void mxhr_async_register_hooks(apr_pool_t *p);

/* Reads what the event MPM does not tell modules (post_config). */
void mxhr_async_post_config(server_rec *s);

/* Keeps the child's pool for the helper thread (child_init). */
void mxhr_async_child_init(apr_pool_t *pchild, server_rec *s);

/* 1 when this request's connection may be suspended here. */
int mxhr_async_possible(request_rec *r, const mxhr_srv_conf *sc);

/* Hands the stream, whose next step is due at wake, to the MPM's timed
 * callbacks. On APR_SUCCESS the handler must return SUSPENDED and not
 * touch the request again; otherwise it goes on blocking. */
apr_status_t mxhr_async_suspend(mxhr_stream *s, apr_time_t wake);

#endif /* MXHR_ASYNC_H */
