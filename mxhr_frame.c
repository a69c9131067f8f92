/* mod_mxhr: multipart and SSE framing, base64 by APR-util (pure APR). */

#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include "apr_strings.h"
#include "apr_lib.h"
#include "apr_general.h"
#include "apr_base64.h"

#include "mxhr_frame.h"

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

apr_size_t mxhr_part_head_size(const char *boundary, int first,
                               const char *content_type,
                               const char *headers)
{
    /* "--" CRLF, four CRLFs, the two names and two 20-digit numbers,
     * the NUL: 93 bytes. */
    return 96 + (first ? strlen(boundary) : 0) + strlen(content_type)
           + (headers ? strlen(headers) : 0);
}

apr_size_t mxhr_part_head(char *buf, apr_size_t size, const char *boundary,
                          int first, const char *content_type,
                          apr_size_t body_len, apr_int64_t seq,
                          const char *headers)
{
    int n = apr_snprintf(buf, size, "%s%s\r\n"
                         "Content-Type: %s\r\n"
                         "Content-Length: %" APR_SIZE_T_FMT "\r\n"
                         "Mxhr-Seq: %" APR_INT64_T_FMT "\r\n"
                         "%s\r\n",
                         first ? "--" : "", first ? boundary : "",
                         content_type, body_len, seq, headers ? headers : "");

    /* apr_snprintf() cuts silently and counts what it wrote: a head
     * that fills the buffer may be cut. */
    if (size < 2 || n <= 0 || (apr_size_t)n >= size - 1) {
        return 0;
    }
    return n;
}

apr_size_t mxhr_part(char *buf, apr_size_t size, const char *boundary,
                     int first, const char *content_type, apr_int64_t seq,
                     const char *body, apr_size_t body_len)
{
    apr_size_t blen = strlen(boundary);
    apr_size_t hlen = mxhr_part_head(buf, size, boundary, first,
                                     content_type, body_len, seq, NULL);

    if (hlen == 0 || body_len > size
        || hlen + body_len + 4 + blen + 1 > size) {
        return 0;
    }
    memcpy(buf + hlen, body, body_len);
    memcpy(buf + hlen + body_len, "\r\n--", 4);
    memcpy(buf + hlen + body_len + 4, boundary, blen);
    buf[hlen + body_len + 4 + blen] = '\0';
    return hlen + body_len + 4 + blen;
}

int mxhr_holds_delimiter(const char *body, apr_size_t len,
                         const char *boundary)
{
    apr_size_t bl = strlen(boundary), i;

    if (len < bl + 2) {
        return 0;
    }
    for (i = 0; i + bl + 2 <= len; i++) {
        const char *d = memchr(body + i, '-', len - bl - 1 - i);

        if (!d) {
            return 0;
        }
        i = (apr_size_t)(d - body);
        if (d[1] == '-' && memcmp(d + 2, boundary, bl) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Base64 takes 3 bytes to 4 characters: a line of 76 characters holds
 * 57 bytes. */
#define B64_LINE_BYTES 57
#define B64_LINE_CHARS 76

/* The characters of len bytes' base64, and the lines they make (at
 * least one). */
static apr_size_t b64_chars(apr_size_t len)
{
    return (len + 2) / 3 * 4;
}

static apr_size_t b64_lines(apr_size_t len)
{
    return len ? (len + B64_LINE_BYTES - 1) / B64_LINE_BYTES : 1;
}

/* Base64 of in, line by line: each line is written at out, preceded by
 * pre (plen bytes) and followed by sep (slen bytes; after the last line
 * only when sep_last). APR-util encodes; this only places the lines.
 * The output needs one byte more than its length (APR's NUL). Returns
 * the length written. */
static apr_size_t b64_write(char *out, const char *in, apr_size_t len,
                            const char *pre, apr_size_t plen,
                            const char *sep, apr_size_t slen, int sep_last)
{
    apr_size_t i = 0, k = 0;

    do {
        apr_size_t n = len - i < B64_LINE_BYTES ? len - i : B64_LINE_BYTES;

        memcpy(out + k, pre, plen);
        k += plen;
        /* It counts the NUL it writes, which what follows overwrites. */
        k += apr_base64_encode_binary(out + k,
                                      (const unsigned char *)in + i, (int)n)
             - 1;
        i += n;
        if (i < len || sep_last) {
            memcpy(out + k, sep, slen);
            k += slen;
        }
    } while (i < len);
    return k;
}

apr_size_t mxhr_base64_size(apr_size_t len)
{
    return b64_chars(len) + 2 * (b64_lines(len) - 1) + 1;
}

apr_size_t mxhr_base64_lines(char *out, const char *in, apr_size_t len)
{
    if (len == 0) {
        return 0;
    }
    return b64_write(out, in, len, "", 0, "\r\n", 2, 0);
}

char *mxhr_base64_alloc(const char *in, apr_size_t len,
                        apr_size_t *out_len)
{
    char *out = malloc(mxhr_base64_size(len));

    if (out) {
        *out_len = mxhr_base64_lines(out, in, len);
    }
    return out;
}

/* ---- Server-sent events ----------------------------------------------- */

/* Writes (when out) a "data: " line for each line of data: CRLF, CR and
 * LF end a line; what follows the last break is a line too (maybe
 * empty). Returns the bytes it takes. */
static apr_size_t sse_lines(const char *data, apr_size_t len,
                            char *out)
{
    apr_size_t i = 0, start = 0, k = 0;

    for (;;) {
        if (i == len || data[i] == '\r' || data[i] == '\n') {
            apr_size_t l = i - start;

            if (out) {
                memcpy(out + k, "data: ", 6);
                memcpy(out + k + 6, data + start, l);
                out[k + 6 + l] = '\n';
            }
            k += 6 + l + 1;
            if (i == len) {
                return k;
            }
            if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n') {
                i++;
            }
            start = ++i;
            continue;
        }
        i++;
    }
}

apr_size_t mxhr_sse_size(const char *id, const char *event,
                         const char *data, apr_size_t len)
{
    return (id ? 4 + strlen(id) + 1 : 0) + (event ? 7 + strlen(event) + 1
                                                  : 0)
           + sse_lines(data, len, NULL) + 1;
}

/* Writes the field line "NAME VALUE" LF (name with its colon and
 * space) at out; returns its length. */
static apr_size_t sse_field(char *out, const char *name, const char *value)
{
    apr_size_t n = strlen(name), l = strlen(value);

    memcpy(out, name, n);
    memcpy(out + n, value, l);
    out[n + l] = '\n';
    return n + l + 1;
}

apr_size_t mxhr_sse_event(char *out, const char *id, const char *event,
                          const char *data, apr_size_t len)
{
    apr_size_t k = 0;

    if (id) {
        k += sse_field(out + k, "id: ", id);
    }
    if (event) {
        k += sse_field(out + k, "event: ", event);
    }
    k += sse_lines(data, len, out + k);
    out[k++] = '\n';
    return k;
}

mxhr_sse_data *mxhr_sse_data_create(const char *body, apr_size_t len)
{
    int base64 = !mxhr_utf8_valid(body, len);
    /* Base64: 7 bytes ("data: " and LF) around each line of at most 76
     * characters, and the blank line; else the body's lines as they
     * are. One more byte for APR's NUL. */
    apr_size_t size = base64 ? b64_chars(len) + 7 * b64_lines(len) + 1
                             : sse_lines(body, len, NULL) + 1;
    mxhr_sse_data *d = malloc(sizeof(*d) + size + 1);
    char *out;

    if (!d) {
        return NULL;
    }
    out = (char *)(d + 1);
    d->base64 = base64;
    d->data = out;
    d->len = base64 ? b64_write(out, body, len, "data: ", 6, "\n", 1, 1)
                    : sse_lines(body, len, out);
    out[d->len++] = '\n';
    d->size = size;
    return d;
}

apr_size_t mxhr_sse_head(char *out, apr_size_t size, const char *id,
                         const char *event, int base64)
{
    int n = apr_snprintf(out, size, "%s%s%s%s%s%s%s",
                         id ? "id: " : "", id ? id : "", id ? "\n" : "",
                         event || base64 ? "event: " : "",
                         event ? event : base64 ? "message" : "",
                         base64 ? "-base64" : "",
                         event || base64 ? "\n" : "");

    return size >= 2 && n >= 0 && (apr_size_t)n < size - 1 ? (apr_size_t)n
                                                            : 0;
}
