/* Unit tests for mxhr_ids.c; prints TAP for prove. */

#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "mxhr_ids.h"
#include "mxhr_value.h"

#include "tap.h"

int main(void)
{
    apr_pool_t *p;

    apr_initialize();
    apr_pool_create(&p, NULL);

    /* channel ids */
    {
        const char *ids[16];
        int n = -1;
        char long_id[300];

        ok(mxhr_channel_split(p, "lobby", ids, 16, &n) == NULL && n == 1
           && strcmp(ids[0], "lobby") == 0, "one channel id");
        ok(mxhr_channel_split(p, "a, b ,\tc,a", ids, 16, &n) == NULL
           && n == 3 && strcmp(ids[1], "b") == 0 && strcmp(ids[2], "c") == 0,
           "ids split on commas, spaces around ignored, duplicates once");
        is_str(mxhr_channel_split(p, "", ids, 16, &n), "empty channel id",
               "empty value refused");
        is_str(mxhr_channel_split(p, "a,,b", ids, 16, &n),
               "empty channel id", "empty id between commas refused");
        is_str(mxhr_channel_split(p, "a b", ids, 16, &n),
               "channel id with a space", "space inside an id refused");
        is_str(mxhr_channel_split(p, "a\x01", ids, 16, &n),
               "channel id with a control character", "control char refused");
        is_str(mxhr_channel_split(p, "a\x7f", ids, 16, &n),
               "channel id with a control character", "DEL refused");
        memset(long_id, 'x', 256);
        long_id[256] = '\0';
        is_str(mxhr_channel_split(p, long_id, ids, 16, &n),
               "channel id longer than 255 bytes", "256-byte id refused");
        long_id[255] = '\0';
        ok(mxhr_channel_split(p, long_id, ids, 16, &n) == NULL && n == 1,
           "255-byte id taken");
        is_str(mxhr_channel_split(p, "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,"
                                  "16,17", ids, 16, &n),
               "more than 16 channels", "17 channels refused");
        ok(mxhr_channel_split(p, "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16",
                              ids, 16, &n) == NULL && n == 16,
           "16 channels taken");
        ok(mxhr_channel_split(p, "caf\xc3\xa9", ids, 16, &n) == NULL,
           "UTF-8 bytes are fine in an id");
        is_str(mxhr_channel_split(p, "caf\xe9", ids, 16, &n),
               "channel id that is not UTF-8", "Latin-1 id refused");
    }

    /* message ids */
    {
        apr_uint64_t a = 0, b = 0;

        ok(mxhr_message_id_parse("1796015912644092-42", &a, &b)
           && a == APR_UINT64_C(1796015912644092) && b == 42, "id parsed");
        ok(!mxhr_message_id_parse("", &a, &b), "empty id refused");
        ok(!mxhr_message_id_parse("12", &a, &b), "id without dash refused");
        ok(!mxhr_message_id_parse("12-", &a, &b), "id without seq refused");
        ok(!mxhr_message_id_parse("-12", &a, &b), "id without store refused");
        ok(!mxhr_message_id_parse("1-2-3", &a, &b), "trailing part refused");
        ok(!mxhr_message_id_parse("1-2 ", &a, &b), "trailing space refused");
        ok(!mxhr_message_id_parse("+1-2", &a, &b), "sign refused");
        ok(!mxhr_message_id_parse("99999999999999999999-1", &a, &b),
           "20 digits refused (overflow)");
        ok(!mxhr_message_id_parse(NULL, &a, &b), "NULL refused");
    }

    /* query arguments */
    is_str(mxhr_query_arg(p, "id=lobby", "id"), "lobby", "query arg");
    is_str(mxhr_query_arg(p, "x=1&id=a%20b+c;y=2", "id"), "a b c",
           "query arg decoded, after others");
    is_str(mxhr_query_arg(p, "x=1;id=z", "id"), "z", "semicolon separates");
    ok(mxhr_query_arg(p, "idx=1&xid=2", "id") == NULL,
       "a longer name is not the argument");
    ok(mxhr_query_arg(p, NULL, "id") == NULL, "no query");
    is_str(mxhr_query_arg(p, "id", "id"), "", "argument without value");
    is_str(mxhr_query_arg(p, "id=a%2", "id"), "", "cut escape gives empty");
    is_str(mxhr_query_arg(p, "id=a%zz", "id"), "", "bad escape gives empty");
    is_str(mxhr_query_arg(p, "id=%41%62", "id"), "Ab", "hex escapes");
    is_str(mxhr_query_arg(p, "id=first&id=second", "id"), "first",
           "first of repeated arguments");

    /* a NUL never cuts a value short: it comes back as SUB */
    {
        const char *v = mxhr_query_arg(p, "id=a%00b", "id");

        ok(v && strlen(v) == 3 && v[1] == MXHR_ARG_NUL,
           "%00 decodes to SUB, the value is not cut");
        ok(v && mxhr_query_arg(p, "id=%00", "id")[0] == MXHR_ARG_NUL,
           "a lone %00");
    }
    {
        const char *ids[16];
        int n;

        is_str(mxhr_channel_split(p, mxhr_query_arg(p, "id=a%00b", "id"),
                                  ids, 16, &n),
               "channel id with a control character",
               "a channel id with %00 is refused");
    }

    /* the module's own event names */
    ok(mxhr_event_name_reserved("mxhr-close", 10), "mxhr-close reserved");
    ok(mxhr_event_name_reserved("MXHR-x", 6), "MXHR-x reserved (any case)");
    ok(mxhr_event_name_reserved("mxhr-", 5), "mxhr- reserved");
    ok(mxhr_event_name_reserved("message-base64", 14),
       "message-base64 reserved");
    ok(mxhr_event_name_reserved("a-BASE64", 8), "a-BASE64 reserved");
    ok(mxhr_event_name_reserved("-base64", 7), "-base64 reserved");
    ok(!mxhr_event_name_reserved("mxhr", 4), "mxhr is not");
    ok(!mxhr_event_name_reserved("base64", 6), "base64 is not");
    ok(!mxhr_event_name_reserved("x-base64x", 9), "x-base64x is not");
    ok(!mxhr_event_name_reserved("amxhr-x", 7), "amxhr-x is not");
    ok(!mxhr_event_name_reserved("mxhr-close", 4),
       "only len bytes are read");
    {
        const char *ids[16];
        int n;

        ok(mxhr_channel_split(p, "a, mxhr-close", ids, 16, &n) != NULL,
           "a channel id mxhr-close is refused");
        ok(mxhr_channel_split(p, "x-base64", ids, 16, &n) != NULL,
           "a channel id x-base64 is refused");
        ok(mxhr_channel_split(p, "mxhr,base64", ids, 16, &n) == NULL
           && n == 2, "mxhr and base64 are fine channel ids");
    }

    /* fuzz: random inputs never crash and keep their contracts */
    {
        const char *ids[16];
        char buf[600];
        int i, j, n, bad = 0;
        apr_uint64_t a, b;

        srand(12345);
        for (i = 0; i < 100000; i++) {
            int len = rand() % 400;

            for (j = 0; j < len; j++) {
                static const char pool[] = "ab,  -\t%+=&;09\x01\x7f\xff";
                buf[j] = rand() % 4 ? pool[rand() % (sizeof(pool) - 1)]
                                    : (char)(rand() % 256);
                if (!buf[j]) {
                    buf[j] = 'x';
                }
            }
            buf[len] = '\0';
            if (mxhr_channel_split(p, buf, ids, 16, &n) == NULL) {
                for (j = 0; j < n; j++) {
                    apr_size_t l = strlen(ids[j]), k;

                    if (l == 0 || l > 255 || strchr(ids[j], ',')
                        || !mxhr_utf8_valid(ids[j], l)
                        || mxhr_event_name_reserved(ids[j], l)) {
                        bad++;
                    }
                    for (k = 0; k < l; k++) {
                        unsigned char c = (unsigned char)ids[j][k];
                        if (c < 0x20 || c == 0x7f || c == ' ') {
                            bad++;
                        }
                    }
                }
            }
            mxhr_message_id_parse(buf, &a, &b);
            mxhr_query_arg(p, buf, "a");
            if (i % 1000 == 0) {
                apr_pool_clear(p);
            }
        }
        ok(bad == 0, "100000 fuzzed channel values, ids, queries");
    }

    /* the one hash: FNV-1a 64 (the published test vectors) */
    ok(mxhr_hash64("", 0, 0) == APR_UINT64_C(0xcbf29ce484222325)
       && mxhr_hash64("a", 1, 0) == APR_UINT64_C(0xaf63dc4c8601ec8c)
       && mxhr_hash64("foobar", 6, 0) == APR_UINT64_C(0x85944171f73967e8),
       "mxhr_hash64 is FNV-1a 64");
    ok(mxhr_hash64("a", 1, 1) != mxhr_hash64("a", 1, 0),
       "mxhr_hash64's seed changes the hash");

    apr_pool_destroy(p);
    apr_terminate();
    return tap_done();
}
