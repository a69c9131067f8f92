/* mod_mxhr: Accept negotiation (pure APR). */

#include <string.h>

#include "apr_strings.h"
#include "apr_lib.h"

#include "mxhr_accept.h"
#include "mxhr_value.h"

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
    e = mxhr_token_end(p);
    it->type_len = (apr_size_t)(e - p);
    if (e == p || *e != '/') {
        valid = 0;
    }
    else {
        it->sub = e + 1;
        p = mxhr_token_end(e + 1);
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
        p = mxhr_token_end(p);
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
        p = mxhr_token_end(p);
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
