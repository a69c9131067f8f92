/* mod_mxhr: multipart framing and value parsing (pure APR). */

#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include "apr_strings.h"
#include "apr_lib.h"
#include "apr_general.h"
#include "apr_base64.h"

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

/* One element of an Accept header (RFC 9110 12.5.1). */
typedef struct {
    const char *type, *sub;         /* not NUL-terminated */
    apr_size_t type_len, sub_len;
    int q;                          /* thousandths */
} accept_item;

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    return p;
}

/* Past a quoted-string that starts at p (on the quote): the character
 * after the closing quote, or NULL when the string is not closed. */
static const char *skip_quoted(const char *p)
{
    for (p++; *p; p++) {
        if (*p == '\\') {
            if (!p[1]) {
                return NULL;
            }
            p++;
        }
        else if (*p == '"') {
            return p + 1;
        }
    }
    return NULL;
}

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), exactly
 * len characters. Returns thousandths, or -1 when invalid. */
static int parse_qvalue(const char *v, apr_size_t len)
{
    int q, scale = 100;
    apr_size_t i;

    if (len == 0 || (v[0] != '0' && v[0] != '1')) {
        return -1;
    }
    q = (v[0] - '0') * 1000;
    if (len == 1) {
        return q;
    }
    if (v[1] != '.' || len > 5) {
        return -1;
    }
    for (i = 2; i < len; i++, scale /= 10) {
        if (!apr_isdigit(v[i]) || (q == 1000 && v[i] != '0')) {
            return -1;
        }
        q += (v[i] - '0') * scale;
    }
    return q;
}

/* Reads the element at *pp and moves *pp past it (and its comma).
 * Returns 1 and fills it for a valid element, 0 for an invalid one, -1
 * when the header has no more. Never reads past the NUL. */
static int accept_next(const char **pp, accept_item *it)
{
    const char *p = *pp, *e;
    int valid = 1;

    while (*p == ' ' || *p == '\t' || *p == ',') {
        p++;                        /* empty elements are allowed */
    }
    if (!*p) {
        *pp = p;
        return -1;
    }
    it->q = 1000;
    it->type = p;
    e = skip_token(p);
    it->type_len = (apr_size_t)(e - p);
    if (e == p || *e != '/') {
        valid = 0;
    }
    else {
        it->sub = e + 1;
        p = skip_token(e + 1);
        it->sub_len = (apr_size_t)(p - it->sub);
        if (!it->sub_len) {
            valid = 0;
        }
    }
    /* parameters = *( OWS ";" OWS [ parameter ] ) */
    while (valid) {
        const char *name, *value;
        apr_size_t name_len, value_len;

        p = skip_ows(p);
        if (!*p || *p == ',') {
            break;
        }
        if (*p != ';') {
            valid = 0;
            break;
        }
        p = skip_ows(p + 1);
        name = p;
        p = skip_token(p);
        name_len = (apr_size_t)(p - name);
        if (!name_len) {
            continue;               /* an empty parameter */
        }
        if (*p != '=') {
            valid = 0;
            break;
        }
        value = ++p;
        if (*p == '"') {
            p = skip_quoted(p);
            if (!p) {
                /* Unterminated: the rest of the header is this item. */
                *pp = value + strlen(value);
                return 0;
            }
            if (name_len == 1 && (*name == 'q' || *name == 'Q')) {
                valid = 0;          /* a weight is never quoted */
            }
            continue;
        }
        p = skip_token(p);
        value_len = (apr_size_t)(p - value);
        if (!value_len) {
            valid = 0;
        }
        else if (name_len == 1 && (*name == 'q' || *name == 'Q')) {
            it->q = parse_qvalue(value, value_len);
            if (it->q < 0) {
                valid = 0;
            }
        }
    }
    /* The rest of an invalid element, up to a comma outside quotes. */
    while (*p && *p != ',') {
        if (*p == '"') {
            p = skip_quoted(p);
            if (!p) {
                p = *pp + strlen(*pp);
                break;
            }
        }
        else {
            p++;
        }
    }
    *pp = p;
    return valid;
}

static int range_is(const char *s, apr_size_t len, const char *want,
                    apr_size_t want_len)
{
    return len == want_len && strncasecmp(s, want, len) == 0;
}

int mxhr_accept_q(const char *accept, const char *type)
{
    const char *slash = type ? strchr(type, '/') : NULL;
    const char *p = accept;
    apr_size_t tl, sl;
    accept_item it;
    int rv, best = -1, best_rank = 0;

    if (!accept || !slash) {
        return -1;
    }
    tl = (apr_size_t)(slash - type);
    sl = strlen(slash + 1);
    while ((rv = accept_next(&p, &it)) >= 0) {
        int rank = 0;

        if (!rv) {
            continue;
        }
        if (range_is(it.type, it.type_len, "*", 1)
            && range_is(it.sub, it.sub_len, "*", 1)) {
            rank = 1;
        }
        else if (range_is(it.type, it.type_len, type, tl)) {
            if (range_is(it.sub, it.sub_len, "*", 1)) {
                rank = 2;
            }
            else if (range_is(it.sub, it.sub_len, slash + 1, sl)) {
                rank = 3;
            }
        }
        if (rank > best_rank) {
            best_rank = rank;
            best = it.q;
        }
    }
    return best;
}

int mxhr_accepts_mixed(const char *accept)
{
    const char *p = accept;
    accept_item it;
    int rv;

    if (!accept) {
        return 0;
    }
    /* Only an explicit multipart/mixed: the fetch client sends it;
     * browsers that send the star range get x-mixed-replace. */
    while ((rv = accept_next(&p, &it)) >= 0) {
        if (rv && range_is(it.type, it.type_len, "multipart", 9)
            && range_is(it.sub, it.sub_len, "mixed", 5)) {
            return it.q > 0;
        }
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

    /* apr_snprintf() cuts silently: a head that fills the buffer may be
     * cut. */
    if (n <= 0 || (apr_size_t)n >= size - 1) {
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

/* ---- Channels --------------------------------------------------------- */

int mxhr_utf8_valid(const char *str, apr_size_t len);

const char *mxhr_channel_split(apr_pool_t *p, const char *value,
                               const char **ids, int max, int *n)
{
    const char *v = value;

    *n = 0;
    for (;;) {
        const char *end = strchr(v, ',');
        apr_size_t len = end ? (apr_size_t)(end - v) : strlen(v);
        const char *id;
        apr_size_t i;
        int k;

        /* Spaces around the commas separate; inside an id they do not. */
        while (len && (*v == ' ' || *v == '\t')) {
            v++;
            len--;
        }
        while (len && (v[len - 1] == ' ' || v[len - 1] == '\t')) {
            len--;
        }
        if (len == 0) {
            return "empty channel id";
        }
        if (len > MXHR_CHANNEL_ID_MAX) {
            return "channel id longer than 255 bytes";
        }
        for (i = 0; i < len; i++) {
            unsigned char ch = (unsigned char)v[i];

            if (ch < 0x20 || ch == 0x7f) {
                return "channel id with a control character";
            }
            if (ch == ' ') {
                return "channel id with a space";
            }
        }
        /* It travels in JSON and as an SSE event name: text only. */
        if (!mxhr_utf8_valid(v, len)) {
            return "channel id that is not UTF-8";
        }
        /* A stream of several channels names each event by its channel:
         * never one of the module's own. */
        if (mxhr_event_name_reserved(v, len)) {
            return "channel id reserved for the module's own events "
                   "(mxhr-... or ...-base64)";
        }
        id = apr_pstrmemdup(p, v, len);
        for (k = 0; k < *n && strcmp(ids[k], id) != 0; k++) {
            /* duplicates count once */
        }
        if (k == *n) {
            if (*n == max) {
                return apr_psprintf(p, "more than %d channels", max);
            }
            ids[(*n)++] = id;
        }
        if (!end) {
            return NULL;
        }
        v = end + 1;
    }
}

int mxhr_event_name_reserved(const char *name, apr_size_t len)
{
    return (len >= 5 && strncasecmp(name, "mxhr-", 5) == 0)
           || (len >= 7 && strncasecmp(name + len - 7, "-base64", 7) == 0);
}

/* A decimal number of 1 to 19 digits at *s; advances *s. */
static int parse_u64(const char **s, apr_uint64_t *out)
{
    const char *p = *s;
    apr_uint64_t v = 0;
    int digits = 0;

    while (*p >= '0' && *p <= '9') {
        if (++digits > 19) {
            return 0;
        }
        v = v * 10 + (apr_uint64_t)(*p++ - '0');
    }
    if (!digits) {
        return 0;
    }
    *s = p;
    *out = v;
    return 1;
}

int mxhr_message_id_parse(const char *id, apr_uint64_t *store,
                          apr_uint64_t *seq)
{
    const char *p = id;

    if (!p || !parse_u64(&p, store) || *p++ != '-' || !parse_u64(&p, seq)
        || *p) {
        return 0;
    }
    return 1;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

const char *mxhr_query_arg(apr_pool_t *p, const char *args,
                           const char *name)
{
    apr_size_t nl = strlen(name);

    while (args && *args) {
        apr_size_t len = strcspn(args, "&;");

        if (len >= nl && strncmp(args, name, nl) == 0
            && (len == nl || args[nl] == '=')) {
            const char *v = args + nl + (len > nl ? 1 : 0);
            apr_size_t vl = len > nl ? len - nl - 1 : 0, i;
            char *out = apr_palloc(p, vl + 1), *o = out;

            for (i = 0; i < vl; i++) {
                if (v[i] == '+') {
                    *o++ = ' ';
                }
                else if (v[i] != '%') {
                    *o++ = v[i];
                }
                else if (i + 2 < vl && hex_value(v[i + 1]) >= 0
                         && hex_value(v[i + 2]) >= 0) {
                    char c = (char)(hex_value(v[i + 1]) * 16
                                    + hex_value(v[i + 2]));

                    /* A NUL would cut the value short ("a%00b" would
                     * be "a"): it becomes SUB, the control character
                     * that stands for one that cannot be shown, which
                     * no channel id or message id may hold. */
                    *o++ = c ? c : MXHR_ARG_NUL;
                    i += 2;
                }
                else {
                    return "";      /* a bad escape */
                }
            }
            *o = '\0';
            return out;
        }
        args += len;
        if (*args) {
            args++;
        }
    }
    return NULL;
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

int mxhr_accepts_sse(const char *accept)
{
    int sse, mixed, replace;

    if (!accept) {
        return 0;
    }
    sse = mxhr_accept_q(accept, "text/event-stream");
    mixed = mxhr_accept_q(accept, "multipart/mixed");
    replace = mxhr_accept_q(accept, "multipart/x-mixed-replace");
    return sse > 0 && sse > mixed && sse > replace;
}

/* ---- Server-sent events ----------------------------------------------- */

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

    return n >= 0 && (apr_size_t)n < size - 1 ? (apr_size_t)n : 0;
}

/* A port or a database number: decimal digits only, within max. */
static int small_number(const char *s, apr_size_t len, int max, int *out)
{
    apr_size_t i;
    int v = 0;

    if (len == 0 || len > 9) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
        v = v * 10 + (s[i] - '0');
    }
    if (v > max) {
        return 0;
    }
    *out = v;
    return 1;
}

const char *mxhr_redis_url_parse(apr_pool_t *p, const char *url,
                                 mxhr_redis_addr *out)
{
    const char *s, *at, *slash, *colon, *end;

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
    s = url + 8;
    end = s + strlen(s);
    /* The password may hold anything but the last '@'. */
    at = strrchr(s, '@');
    if (at) {
        if (*s != ':' || at == s + 1) {
            return "gives a password as redis://:password@host";
        }
        out->password = apr_pstrmemdup(p, s + 1, at - s - 1);
        s = at + 1;
    }
    slash = strchr(s, '/');
    if (slash) {
        if (slash[1] && !small_number(slash + 1, end - slash - 1, 1000000,
                                      &out->db)) {
            return "has a database that is not a number";
        }
        end = slash;
    }
    if (*s == '[') {
        const char *close = memchr(s, ']', end - s);

        if (!close || close == s + 1) {
            return "has an unclosed [IPv6 address]";
        }
        out->host = apr_pstrmemdup(p, s + 1, close - s - 1);
        colon = close + 1 < end ? close + 1 : NULL;
        if (colon && *colon != ':') {
            return "has something after the [IPv6 address]";
        }
    }
    else {
        colon = memchr(s, ':', end - s);
        out->host = apr_pstrmemdup(p, s, (colon ? colon : end) - s);
    }
    if (!*out->host) {
        return "has no host";
    }
    if (colon && (!small_number(colon + 1, end - colon - 1, 65535,
                                &out->port) || out->port == 0)) {
        return "has a port that is not 1 to 65535";
    }
    return NULL;
}
