/* mod_mxhr: the publisher (SetHandler mxhr-publish). */
#ifndef MXHR_PUBLISH_H
#define MXHR_PUBLISH_H

#include "httpd.h"

#include "mxhr_config.h"
#include "mxhr_store.h"

void mxhr_publish_register_hooks(apr_pool_t *p);

/* Checks what a publish says of its message besides its body: the
 * content type (none: application/octet-stream, set in *ct) and the SSE
 * event name (NULL: none; not one of the module's own), called event_is
 * in the answer. NULL when good, else why not, for a 400. */
const char *mxhr_publish_check(apr_pool_t *p, const char **ct,
                               const char *event, const char *event_is);

/* Stores a checked message in channel of vhost, with set's history and
 * channel limit, and wakes its subscribers (in every child; with Redis,
 * on every server): the step that an HTTP publish and mxhr_publish()
 * (mod_mxhr.h) share. OK and *info, or the status to answer (503, 507,
 * 500) and, unless it was logged here, *why. */
int mxhr_publish_message(request_rec *r, const mxhr_settings *set,
                         const char *vhost, const char *channel,
                         const char *ct, const char *event,
                         const char *body, apr_size_t len,
                         mxhr_chan_info *info, const char **why);

#endif /* MXHR_PUBLISH_H */
