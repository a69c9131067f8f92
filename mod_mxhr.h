/* mod_mxhr: what other modules may call.
 *
 * A module that wants to push its own messages down mod_mxhr's streams
 * looks the function up at run time, so that it loads without mod_mxhr:
 *
 *     APR_OPTIONAL_FN_TYPE(mxhr_deliver) *deliver =
 *         APR_RETRIEVE_OPTIONAL_FN(mxhr_deliver);
 *     if (deliver) deliver(NULL, "application/json", NULL, body, len);
 */
#ifndef MOD_MXHR_H
#define MOD_MXHR_H

#include "apr_optional.h"

/* Delivers body (len bytes, any bytes, of media type content_type) as
 * the next part of every stream of this child's push engine whose key
 * equals key (NULL: all of them), with the extra part headers given
 * (each ending CRLF, or NULL). Copies what it needs and returns at once;
 * the engine writes the part without blocking. APR_ENOTIMPL where this
 * child has no push engine (not the event MPM, or no stream yet). */
APR_DECLARE_OPTIONAL_FN(apr_status_t, mxhr_deliver,
                        (const char *key, const char *content_type,
                         const char *headers, const char *body,
                         apr_size_t len));

#endif /* MOD_MXHR_H */
