/* mod_mxhr: the MxhrRedis URL (see mxhr_redis_url.h). APR-util's
 * apr_uri_parse() splits it (RFC 3986: the last '@' ends the user
 * part, [IPv6] hosts); what is left here is what Redis's URL adds: an
 * empty user, a numeric port and database, the password's escapes. */

#include <string.h>

#include "apr_escape.h"
#include "apr_lib.h"
#include "apr_strings.h"
#include "apr_uri.h"

#include "mxhr_redis_url.h"

/* A whole number of at most max, from all of s (no sign, not empty). */
static int small_number(const char *s, int max, int *out)
{
    apr_int64_t v = 0;

    if (!*s) {
        return 0;
    }
    for (; *s; s++) {
        if (!apr_isdigit(*s)) {
            return 0;
        }
        v = v * 10 + (*s - '0');
        if (v > max) {
            return 0;
        }
    }
    *out = (int)v;
    return 1;
}

const char *mxhr_redis_url_parse(apr_pool_t *p, const char *url,
                                 mxhr_redis_addr *out)
{
    apr_uri_t u;
    const char *s;

    memset(out, 0, sizeof(*out));
    out->port = 6379;
    for (s = url; *s; s++) {
        if (apr_iscntrl(*s) || *s == ' ') {
            return "has a space or a control character";
        }
    }
    if (strncmp(url, "unix:", 5) == 0) {
        if (url[5] != '/' || !url[6]) {
            return "needs an absolute socket path, e.g. "
                   "unix:/run/redis/redis.sock";
        }
        out->path = apr_pstrdup(p, url + 5);
        return NULL;
    }
    if (strncmp(url, "redis://", 8) != 0) {
        return "must start with redis:// or unix:";
    }
    if (apr_uri_parse(p, url, &u) != APR_SUCCESS) {
        return "is not a valid URL (a port that is not a number, an "
               "unclosed [IPv6 address]?)";
    }
    if (u.query || u.fragment) {
        return "has a query or a fragment (a '?' or '#' in a password "
               "must be written %3F or %23)";
    }
    if (u.user || u.password) {
        /* Only "redis://:password@": Redis's AUTH takes no user here. */
        if ((u.user && *u.user) || !u.password || !*u.password) {
            return "gives a password as redis://:password@host";
        }
        /* %00 would cut the password short: AUTH would then fail at
         * run time, not here. */
        if (strstr(u.password, "%00")) {
            return "has %00 in its password";
        }
        out->password = apr_punescape_url(p, u.password, NULL, NULL, 0);
        if (!out->password) {
            return "has a password with a bad %-escape";
        }
    }
    if (!u.hostname || !*u.hostname) {
        return "has no host";
    }
    /* apr_uri_parse() drops what follows "[v6]" unless it is a port. */
    if (u.hostinfo) {
        const char *hi = strrchr(u.hostinfo, '@');
        const char *close;

        hi = hi ? hi + 1 : u.hostinfo;
        close = *hi == '[' ? strchr(hi, ']') : NULL;
        if (close && close[1] && close[1] != ':') {
            return "has something after the [IPv6 address]";
        }
    }
    out->host = u.hostname;
    /* apr_uri_parse() keeps the port in 16 bits: check its text. */
    if (u.port_str && (!small_number(u.port_str, 65535, &out->port)
                       || out->port == 0)) {
        return "has a port that is not 1 to 65535";
    }
    if (u.path && u.path[0] == '/' && u.path[1]
        && !small_number(u.path + 1, 1000000, &out->db)) {
        return "has a database that is not a number";
    }
    return NULL;
}
