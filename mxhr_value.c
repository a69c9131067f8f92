/* mod_mxhr: the values of directives and headers (pure APR). */

#include <string.h>

#include "apr_strings.h"
#include "apr_lib.h"

#include "mxhr_value.h"

/* Durations beyond a day are almost certainly a typo (e.g. "5000m"). */
#define MXHR_DURATION_MAX apr_time_from_sec(86400)

const char *mxhr_parse_duration(const char *arg, apr_interval_time_t *out)
{
    const char *p = arg;
    apr_int64_t n = 0;
    apr_interval_time_t unit;

    if (!arg || !*arg) {
        return "is empty";
    }
    if (!apr_isdigit(*p)) {
        return "must start with a whole number (no sign, no fraction)";
    }
    while (apr_isdigit(*p)) {
        n = n * 10 + (*p - '0');
        if (n > 86400000) {
            return "is too large (at most one day)";
        }
        p++;
    }
    if (*p == '\0' || strcasecmp(p, "s") == 0) {
        unit = APR_USEC_PER_SEC;
    }
    else if (strcasecmp(p, "ms") == 0) {
        unit = 1000;
    }
    else if (strcasecmp(p, "m") == 0) {
        unit = apr_time_from_sec(60);
    }
    else if (strcasecmp(p, "h") == 0) {
        unit = apr_time_from_sec(3600);
    }
    else {
        return "has an unknown unit (use ms, s, m or h)";
    }
    if (n * unit > MXHR_DURATION_MAX) {
        return "is too large (at most one day)";
    }
    *out = n * unit;
    return NULL;
}

const char *mxhr_parse_count(const char *arg, apr_int64_t max,
                             apr_int64_t *out)
{
    const char *p = arg;
    apr_int64_t n = 0;

    if (!arg || !*arg) {
        return "is empty";
    }
    for (; *p; p++) {
        if (!apr_isdigit(*p)) {
            return "must be a whole number, 0 or more";
        }
        n = n * 10 + (*p - '0');
        if (n > max) {
            return "is too large";
        }
    }
    *out = n;
    return NULL;
}

/* RFC 2046 bchars: DIGIT / ALPHA / "'" / "(" / ")" / "+" / "_" / ","
 * / "-" / "." / "/" / ":" / "=" / "?" / " " */
static int is_bchar(int c)
{
    return apr_isalnum(c) || (c && strchr("'()+_,-./:=? ", c) != NULL);
}

int mxhr_boundary_valid(const char *b)
{
    apr_size_t len;
    const char *p;

    if (!b) {
        return 0;
    }
    len = strlen(b);
    if (len < 1 || len > MXHR_BOUNDARY_MAX || b[len - 1] == ' ') {
        return 0;
    }
    for (p = b; *p; p++) {
        if (!is_bchar((unsigned char)*p)) {
            return 0;
        }
    }
    return 1;
}

/* RFC 7230 tchar */
static int is_tchar(int c)
{
    return apr_isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

const char *mxhr_token_end(const char *p)
{
    while (*p && is_tchar((unsigned char)*p)) {
        p++;
    }
    return p;
}

int mxhr_media_type_valid(const char *t)
{
    const char *p, *q;

    if (!t || strlen(t) > MXHR_MEDIA_TYPE_MAX) {
        return 0;
    }
    for (p = t; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return 0;
        }
    }
    p = mxhr_token_end(t);
    if (p == t || *p != '/') {
        return 0;
    }
    q = mxhr_token_end(p + 1);
    if (q == p + 1) {
        return 0;
    }
    while (*q == ' ' || *q == '\t') {
        q++;
    }
    /* Parameters are passed through as written; they only need to be
     * introduced properly. */
    return *q == '\0' || *q == ';';
}

int mxhr_media_type_is_json(const char *t)
{
    const char *slash, *end;
    apr_size_t sublen;

    if (!mxhr_media_type_valid(t)) {
        return 0;
    }
    slash = strchr(t, '/');
    end = mxhr_token_end(slash + 1);
    sublen = end - (slash + 1);
    if ((apr_size_t)(slash - t) == 11 && strncasecmp(t, "application", 11) == 0
        && sublen == 4 && strncasecmp(slash + 1, "json", 4) == 0) {
        return 1;
    }
    return sublen > 5 && strncasecmp(end - 5, "+json", 5) == 0;
}

const char *mxhr_time_format_check(const char *fmt, mxhr_time_kind *kind)
{
    const char *p;

    if (!fmt || !*fmt) {
        return "is empty";
    }
    if (strcasecmp(fmt, "iso8601") == 0) {
        *kind = MXHR_TIME_ISO8601;
        return NULL;
    }
    if (strcasecmp(fmt, "epoch-ms") == 0) {
        *kind = MXHR_TIME_EPOCH_MS;
        return NULL;
    }
    if (strlen(fmt) > 200) {
        return "is longer than 200 characters";
    }
    for (p = fmt; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            return "contains a control character";
        }
    }
    *kind = MXHR_TIME_STRFTIME;
    return NULL;
}

int mxhr_utf8_valid(const char *str, apr_size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    apr_size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];
        apr_uint32_t cp;
        int n, k;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        }
        else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        }
        else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        }
        else {
            return 0;
        }
        if (len - i <= (apr_size_t)n) {
            return 0;
        }
        for (k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return 0;
            }
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
            || (n == 3 && (cp < 0x10000 || cp > 0x10ffff))) {
            return 0;
        }
        i += n + 1;
    }
    return 1;
}
