/* mod_mxhr: multipart framing and value parsing (pure APR). */

#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include "apr_strings.h"
#include "apr_lib.h"
#include "apr_general.h"

#include "mxhr_frame.h"

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

static const char *skip_token(const char *p)
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
    p = skip_token(t);
    if (p == t || *p != '/') {
        return 0;
    }
    q = skip_token(p + 1);
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
    end = skip_token(slash + 1);
    sublen = end - (slash + 1);
    if ((apr_size_t)(slash - t) == 11 && strncasecmp(t, "application", 11) == 0
        && sublen == 4 && strncasecmp(slash + 1, "json", 4) == 0) {
        return 1;
    }
    return sublen > 5 && strncasecmp(end - 5, "+json", 5) == 0;
}

int mxhr_accepts_mixed(const char *accept)
{
    const char *p = accept;

    if (!accept) {
        return 0;
    }
    while (*p) {
        const char *start, *end, *next;
        int q_zero = 0;

        while (*p == ' ' || *p == '\t' || *p == ',') {
            p++;
        }
        if (!*p) {
            break;
        }
        start = p;
        end = skip_token(p);
        if (*end == '/') {
            end = skip_token(end + 1);
        }
        next = strchr(end, ',');
        if (!next) {
            next = end + strlen(end);
        }
        /* Look for a q=0 parameter among this range's parameters. */
        {
            const char *s = end;
            while (s < next) {
                s = memchr(s, ';', next - s);
                if (!s) {
                    break;
                }
                s++;
                while (*s == ' ' || *s == '\t') {
                    s++;
                }
                if ((*s == 'q' || *s == 'Q') && s[1] == '=') {
                    const char *v = s + 2;
                    q_zero = 1;
                    for (; v < next && *v != ';' && *v != ' '; v++) {
                        if (*v != '0' && *v != '.') {
                            q_zero = 0;
                        }
                    }
                }
            }
        }
        if (end - start == 15 && strncasecmp(start, "multipart/mixed", 15) == 0
            && !q_zero) {
            return 1;
        }
        p = next;
    }
    return 0;
}

char *mxhr_random_boundary(apr_pool_t *p)
{
    unsigned char raw[16];
    char *b;
    int i;

    if (apr_generate_random_bytes(raw, sizeof(raw)) != APR_SUCCESS) {
        return NULL;
    }
    b = apr_palloc(p, 4 + 2 * sizeof(raw) + 1);
    memcpy(b, "mxhr", 4);
    for (i = 0; i < (int)sizeof(raw); i++) {
        b[4 + 2 * i] = "0123456789abcdef"[raw[i] >> 4];
        b[5 + 2 * i] = "0123456789abcdef"[raw[i] & 15];
    }
    b[4 + 2 * sizeof(raw)] = '\0';
    return b;
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

apr_size_t mxhr_format_time(char *buf, apr_size_t size, mxhr_time_kind kind,
                            const char *fmt, apr_time_t t)
{
    apr_time_exp_t tm;
    apr_size_t len = 0;
    int n;

    if (size == 0) {
        return 0;
    }
    buf[0] = '\0';
    if (kind == MXHR_TIME_EPOCH_MS) {
        n = apr_snprintf(buf, size, "%" APR_INT64_T_FMT,
                         (apr_int64_t)apr_time_as_msec(t));
        return (n > 0 && (apr_size_t)n < size) ? (apr_size_t)n : 0;
    }
    if (kind == MXHR_TIME_ISO8601) {
        if (apr_time_exp_gmt(&tm, t) != APR_SUCCESS) {
            return 0;
        }
        n = apr_snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                         tm.tm_hour, tm.tm_min, tm.tm_sec,
                         tm.tm_usec / 1000);
        return (n > 0 && (apr_size_t)n < size) ? (apr_size_t)n : 0;
    }
    if (apr_time_exp_lt(&tm, t) != APR_SUCCESS) {
        return 0;
    }
    {
        /* strftime has no milliseconds: expand %L first, keeping %% so
         * that "%%L" stays a literal "%L". */
        char expanded[512];
        apr_size_t o = 0;
        const char *p;

        for (p = fmt; *p; p++) {
            if (o + 4 >= sizeof(expanded)) {
                return 0;
            }
            if (p[0] == '%' && p[1] == 'L') {
                apr_snprintf(expanded + o, 4, "%03d", tm.tm_usec / 1000);
                o += 3;
                p++;
            }
            else if (p[0] == '%' && p[1] == '%') {
                expanded[o++] = '%';
                expanded[o++] = '%';
                p++;
            }
            else {
                expanded[o++] = *p;
            }
        }
        expanded[o] = '\0';
        if (apr_strftime(buf, &len, size, expanded, &tm) != APR_SUCCESS
            || len >= size) {
            buf[0] = '\0';
            return 0;
        }
        buf[len] = '\0';
    }
    return len;
}

apr_size_t mxhr_json_body(char *buf, apr_size_t size, apr_int64_t seq,
                          const char *time, int time_is_number)
{
    apr_size_t o;
    const char *t;
    int n;

    n = apr_snprintf(buf, size, "{\"seq\": %" APR_INT64_T_FMT ", \"time\": %s",
                     seq, time_is_number ? "" : "\"");
    if (n <= 0 || (apr_size_t)n >= size) {
        return 0;
    }
    o = n;
    for (t = time; *t; t++) {
        unsigned char c = (unsigned char)*t;
        if (o + 7 >= size) {
            return 0;
        }
        if (time_is_number) {
            buf[o++] = c;
        }
        else if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = c;
        }
        else if (c < 0x20) {
            o += apr_snprintf(buf + o, 7, "\\u%04x", c);
        }
        else {
            buf[o++] = c;
        }
    }
    if (o + 3 >= size) {
        return 0;
    }
    if (!time_is_number) {
        buf[o++] = '"';
    }
    buf[o++] = '}';
    buf[o] = '\0';
    return o;
}

apr_size_t mxhr_part(char *buf, apr_size_t size, const char *boundary,
                     int first, const char *content_type, apr_int64_t seq,
                     const char *body, apr_size_t body_len)
{
    apr_size_t blen = strlen(boundary), hlen;
    int n;

    n = apr_snprintf(buf, size, "%s%s\r\n"
                     "Content-Type: %s\r\n"
                     "Content-Length: %" APR_SIZE_T_FMT "\r\n"
                     "Mxhr-Seq: %" APR_INT64_T_FMT "\r\n"
                     "\r\n",
                     first ? "--" : "", first ? boundary : "",
                     content_type, body_len, seq);
    if (n <= 0 || (apr_size_t)n >= size) {
        return 0;
    }
    hlen = n;
    if (hlen + body_len + 4 + blen + 1 > size) {
        return 0;
    }
    memcpy(buf + hlen, body, body_len);
    memcpy(buf + hlen + body_len, "\r\n--", 4);
    memcpy(buf + hlen + body_len + 4, boundary, blen);
    buf[hlen + body_len + 4 + blen] = '\0';
    return hlen + body_len + 4 + blen;
}
