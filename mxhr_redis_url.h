/* mod_mxhr: where Redis is (MxhrRedis), parsed from its URL.
 *
 * Pure (APR only), so that t/unit/redis_url_test.c tests it outside
 * httpd; mxhr_config.c calls it when it reads MxhrRedis, and
 * mxhr_redis.c connects to what it gives. */
#ifndef MXHR_REDIS_URL_H
#define MXHR_REDIS_URL_H

#include "apr_pools.h"

/* "redis://[:password@]host[:port][/db]" or "unix:/path". */
typedef struct {
    const char *host;           /* NULL: a unix socket */
    int port;
    const char *path;           /* the socket, for "unix:" */
    const char *password;       /* NULL: none; percent-decoded */
    int db;
} mxhr_redis_addr;

/* Parses a Redis URL into *out (strings in p). NULL on success, else
 * what is wrong (never the URL itself: it may hold a password). */
const char *mxhr_redis_url_parse(apr_pool_t *p, const char *url,
                                 mxhr_redis_addr *out);

#endif /* MXHR_REDIS_URL_H */
