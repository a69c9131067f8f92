/* mod_mxhr: channel ids, message ids, query arguments (pure APR). */

#include <string.h>

#include "apr_strings.h"

#include "mxhr_ids.h"
#include "mxhr_value.h"

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

apr_uint64_t mxhr_hash64(const void *data, apr_size_t len,
                         apr_uint64_t seed)
{
    const unsigned char *p = data;
    apr_uint64_t h = APR_UINT64_C(14695981039346656037) ^ seed;
    apr_size_t i;

    for (i = 0; i < len; i++) {
        h = (h ^ p[i]) * APR_UINT64_C(1099511628211);
    }
    return h;
}
