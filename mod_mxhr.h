/* mod_mxhr: what other modules may call.
 *
 * A module (a site's own C module, a mod_lua binding) publishes to a
 * channel of its request's virtual host, in process, as a POST to a
 * "SetHandler mxhr-publish" location of that virtual host would. It
 * looks the function up at run time, so that it loads without mod_mxhr:
 *
 *     APR_OPTIONAL_FN_TYPE(mxhr_publish) *publish =
 *         APR_RETRIEVE_OPTIONAL_FN(mxhr_publish);
 *     mxhr_published out;
 *     int st = publish ? publish(r, "news", "application/json", NULL,
 *                                body, len, &out)
 *                      : HTTP_NOT_IMPLEMENTED;
 *
 * t/modules/mod_mxhr_test.c is a working example.
 */
#ifndef MOD_MXHR_H
#define MOD_MXHR_H

#include "apr_optional.h"
#include "httpd.h"

/* Room for a message id ("<store>-<seq>", two 20-digit numbers). */
#define MXHR_PUBLISHED_ID_MAX 48

/* What mxhr_publish() tells besides its status. */
typedef struct {
    char id[MXHR_PUBLISHED_ID_MAX]; /* the message's id, "" if refused */
    unsigned int subscribers;       /* when it was published (with Redis:
                                     * on every server) */
    const char *why;                /* refused: what is wrong, for the
                                     * log or an error page (r->pool) */
} mxhr_published;

/* Publishes body (len bytes, any bytes) of media type content_type
 * (NULL: application/octet-stream), with the SSE event name event (NULL:
 * none), to the channel named channel (one channel id) of r's virtual
 * host, exactly as an HTTP publish there: the same ids, history and
 * fan-out (every child; with MxhrRedis, every server on that Redis) and
 * the same checks. The limits and the history are those in effect for
 * r (its <Location>, its .htaccess): MxhrMessageMaxSize,
 * MxhrChannelHistory, MxhrChannelHistoryTime, MxhrMaxChannels.
 *
 * Returns what the HTTP publisher would answer: HTTP_CREATED (someone
 * was subscribed) or HTTP_ACCEPTED (nobody was), else HTTP_BAD_REQUEST
 * (a bad channel id, media type or event name),
 * HTTP_REQUEST_ENTITY_TOO_LARGE (over MxhrMessageMaxSize),
 * HTTP_INSUFFICIENT_STORAGE (cannot fit the store; no room for a new
 * channel), HTTP_SERVICE_UNAVAILABLE (no store; Redis unreachable) or
 * HTTP_INTERNAL_SERVER_ERROR; out (may be NULL) says the rest. On the
 * thread that handles r; it waits only for Redis (MxhrRedisTimeout). */
APR_DECLARE_OPTIONAL_FN(int, mxhr_publish,
                        (request_rec *r, const char *channel,
                         const char *content_type, const char *event,
                         const char *body, apr_size_t len,
                         mxhr_published *out));

#endif /* MOD_MXHR_H */
