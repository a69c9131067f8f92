/* Unit tests for mxhr_frame.c; prints TAP for prove. */

#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "mxhr_frame.h"

static int tests_run, tests_failed;

static void ok(int cond, const char *what)
{
    tests_run++;
    if (!cond) {
        tests_failed++;
    }
    printf("%sok %d - %s\n", cond ? "" : "not ", tests_run, what);
}

static void is_str(const char *got, const char *want, const char *what)
{
    int same = got && want && strcmp(got, want) == 0;
    ok(same, what);
    if (!same) {
        printf("#   got:  '%s'\n#   want: '%s'\n", got ? got : "(null)",
               want ? want : "(null)");
    }
}

static void duration(const char *in, apr_interval_time_t want)
{
    apr_interval_time_t got = -1;
    const char *err = mxhr_parse_duration(in, &got);
    char what[128];

    snprintf(what, sizeof(what), "duration '%s' parses", in);
    ok(err == NULL && got == want, what);
}

static void bad_duration(const char *in)
{
    apr_interval_time_t got = -1;
    char what[128];

    snprintf(what, sizeof(what), "duration '%s' is refused", in);
    ok(mxhr_parse_duration(in, &got) != NULL && got == -1, what);
}

/* mxhr_accepts_mixed on a heap copy of exactly strlen + 1 bytes: under
 * valgrind a read past the NUL is then an error, where a literal or a
 * stack buffer would hide it. */
static int accepts_mixed_exact(const char *accept)
{
    apr_size_t n = strlen(accept) + 1;
    char *copy = malloc(n);
    int rv;

    if (!copy) {
        abort();
    }
    memcpy(copy, accept, n);
    rv = mxhr_accepts_mixed(copy);
    free(copy);
    return rv;
}

int main(void)
{
    apr_pool_t *p;
    char buf[256];
    apr_size_t len;
    mxhr_time_kind kind;
    apr_int64_t n;
    char *b1, *b2;

    apr_initialize();
    apr_pool_create(&p, NULL);
    setenv("TZ", "UTC", 1);

    /* durations */
    duration("5", apr_time_from_sec(5));
    duration("5s", apr_time_from_sec(5));
    duration("250ms", 250000);
    duration("2m", apr_time_from_sec(120));
    duration("1h", apr_time_from_sec(3600));
    duration("0", 0);
    duration("250MS", 250000);
    bad_duration("");
    bad_duration("-1");
    bad_duration("1.5s");
    bad_duration("5x");
    bad_duration("s");
    bad_duration("25h");
    bad_duration("99999999999999999999");
    bad_duration(" 5");

    /* counts */
    ok(mxhr_parse_count("0", 10, &n) == NULL && n == 0, "count 0");
    ok(mxhr_parse_count("10", 10, &n) == NULL && n == 10, "count at max");
    ok(mxhr_parse_count("11", 10, &n) != NULL, "count above max refused");
    ok(mxhr_parse_count("-1", 10, &n) != NULL, "negative count refused");
    ok(mxhr_parse_count("3x", 10, &n) != NULL, "count with junk refused");

    /* boundaries */
    ok(mxhr_boundary_valid("simple"), "boundary simple");
    ok(mxhr_boundary_valid("a'()+_,-./:=? b"), "boundary all bchars");
    ok(mxhr_boundary_valid(
        "1234567890123456789012345678901234567890123456789012345678901234567890"),
        "boundary of 70");
    ok(!mxhr_boundary_valid(
        "12345678901234567890123456789012345678901234567890123456789012345678901"),
        "boundary of 71 refused");
    ok(!mxhr_boundary_valid(""), "empty boundary refused");
    ok(!mxhr_boundary_valid("ends "), "trailing space refused");
    ok(!mxhr_boundary_valid("semi;colon"), "';' refused");
    ok(!mxhr_boundary_valid("quote\"d"), "'\"' refused");
    ok(!mxhr_boundary_valid("cr\rlf"), "CR refused");

    /* media types */
    ok(mxhr_media_type_valid("text/plain; charset=utf-8"), "media type ok");
    ok(mxhr_media_type_valid("application/vnd.x+json"), "vendor type ok");
    ok(!mxhr_media_type_valid("text/plain\r\nX-Evil: 1"), "CRLF refused");
    ok(!mxhr_media_type_valid("textplain"), "no slash refused");
    ok(!mxhr_media_type_valid("text/"), "no subtype refused");
    ok(!mxhr_media_type_valid("/plain"), "no type refused");
    ok(!mxhr_media_type_valid("text/plain junk"), "junk after type refused");
    ok(mxhr_media_type_is_json("application/json"), "json");
    ok(mxhr_media_type_is_json("Application/JSON; charset=utf-8"),
       "json, case and params");
    ok(mxhr_media_type_is_json("application/ld+json"), "+json");
    ok(!mxhr_media_type_is_json("text/plain"), "text is not json");
    ok(!mxhr_media_type_is_json("application/jsonx"), "jsonx is not json");
    ok(!mxhr_media_type_is_json("application/+json"), "bare +json is not");

    /* Accept */
    ok(mxhr_accepts_mixed("multipart/mixed"), "accept mixed");
    ok(mxhr_accepts_mixed("text/html, Multipart/Mixed;q=0.5, */*"),
       "accept mixed among others");
    ok(!mxhr_accepts_mixed("multipart/mixed;q=0"), "q=0 is a refusal");
    ok(!mxhr_accepts_mixed("multipart/mixed; q=0.0, text/plain"),
       "q=0.0 is a refusal");
    ok(!mxhr_accepts_mixed("multipart/mixedx, */*"), "other type");
    ok(!mxhr_accepts_mixed("*/*"), "wildcard does not choose mixed");
    ok(!mxhr_accepts_mixed(NULL), "no Accept");
    /* RFC 9110 12.5.1: an invalid qvalue makes the item invalid, and an
     * invalid item is ignored, not accepted. */
    ok(!mxhr_accepts_mixed("multipart/mixed;q=-1"), "q=-1 ignored");
    ok(!mxhr_accepts_mixed("multipart/mixed;q=abc"), "q=abc ignored");
    ok(!mxhr_accepts_mixed("multipart/mixed;q=1e999"), "q=1e999 ignored");
    ok(!mxhr_accepts_mixed("multipart/mixed;q=1.5"), "q=1.5 ignored");
    ok(!mxhr_accepts_mixed("multipart/mixed;q=0.0001"), "4 decimals ignored");
    ok(!mxhr_accepts_mixed("multipart/mixed;q=1.001"), "q=1.001 ignored");
    ok(!mxhr_accepts_mixed("multipart/mixed;q="), "empty q ignored");
    ok(!mxhr_accepts_mixed("multipart/mixed;q=\"1\""), "quoted q ignored");
    ok(!mxhr_accepts_mixed("multipart/mixed;x=\"a,b\";q=0"),
       "a quoted comma does not split the item");
    ok(!mxhr_accepts_mixed("multipart/mixed;x=\"a\\\",b\";q=0"),
       "an escaped quote stays inside the string");
    ok(!mxhr_accepts_mixed("multipart/mixed;x=\"a,b"),
       "an unterminated string makes the item invalid");
    ok(mxhr_accepts_mixed("multipart/mixed;x=\"a;q=0\""),
       "q=0 inside a string is not a weight");
    ok(mxhr_accepts_mixed("multipart/mixed;q=1"), "q=1");
    ok(mxhr_accepts_mixed("multipart/mixed;q=1.000"), "q=1.000");
    ok(mxhr_accepts_mixed("multipart/mixed;q=0.001"), "q=0.001");
    ok(mxhr_accepts_mixed("multipart/mixed ; Q=0.5"), "OWS and Q");
    ok(!mxhr_accepts_mixed("multipart/mixed;q=0.000"), "q=0.000");
    ok(mxhr_accepts_mixed(",, ,multipart/mixed,,"), "empty elements");
    ok(!mxhr_accepts_mixed("multipart/ mixed"), "space inside the type");
    ok(!mxhr_accepts_mixed("multipart/mixed;;q=0"),
       "empty parameter then q=0");
    ok(mxhr_accepts_mixed("text/html;level=1;q=0, multipart/mixed"),
       "the second item");
    ok(!mxhr_accepts_mixed("multipart/*"), "type/* does not choose mixed");
    ok(mxhr_accepts_mixed("multipart/mixed;q=abc, multipart/mixed"),
       "an ignored item does not end the search");
    ok(mxhr_accepts_mixed("multipart/mixed;q=1."), "q=1. (no digits)");
    ok(!mxhr_accepts_mixed("multipart/mixed;q=0."), "q=0. (no digits)");
    ok(!mxhr_accepts_mixed("multipart/mixed;q=.5"), "q=.5 ignored");
    ok(!mxhr_accepts_mixed("multipart/mixed;q=+1"), "q=+1 ignored");
    ok(!mxhr_accepts_mixed("multipart/mixed;q=0.5x"), "q=0.5x ignored");
    ok(!mxhr_accepts_mixed("multipart/mixed;q =1"), "no space before =");
    ok(!mxhr_accepts_mixed("multipart/mixed;x=\"a,b\";q=0, text/html"),
       "a quoted comma, then another item");
    ok(!mxhr_accepts_mixed("text/html;x=\"a,multipart/mixed\""),
       "a range inside a string is not an item");
    ok(!mxhr_accepts_mixed("multipart/mixed;x=\"a\\\\\";q=0"),
       "an escaped backslash ends before the closing quote");
    ok(!mxhr_accepts_mixed("text/html;x=\"a\\\", multipart/mixed, b\", "
                           "text/plain"),
       "an escaped quote keeps the following commas quoted");
    ok(!mxhr_accepts_mixed("text/html;x=\"a, multipart/mixed"),
       "an unterminated string swallows the rest of the header");
    /* Headers that end at awkward places, on exact-size heap copies. */
    ok(!accepts_mixed_exact("multipart/mixed;x=\"a\\"),
       "a backslash at the end of an unterminated string");
    ok(!accepts_mixed_exact("multipart/mixed;x=\""), "a lone quote");
    ok(!accepts_mixed_exact("\""), "only a quote");
    ok(!accepts_mixed_exact("\\"), "only a backslash");
    ok(!accepts_mixed_exact("multipart/"), "no subtype");
    ok(!accepts_mixed_exact("multipart/mixed;q"), "a name without =");
    ok(!accepts_mixed_exact("multipart/mixed;x="), "an empty value");
    ok(accepts_mixed_exact("multipart/mixed;"), "a trailing ;");
    ok(accepts_mixed_exact("multipart/mixed ; "), "a trailing ; and OWS");
    ok(!accepts_mixed_exact("text/plain, \"multipart/mixed"),
       "a quote where a range should be");
    /* The q-value a header gives a type: the most specific range wins. */
    ok(mxhr_accept_q("text/*;q=0.3, text/event-stream;q=0.7, */*;q=0.1",
                     "text/event-stream") == 700, "exact beats type/*");
    ok(mxhr_accept_q("text/*;q=0.3, */*;q=0.1", "text/event-stream") == 300,
       "type/* beats */*");
    ok(mxhr_accept_q("*/*;q=0.1", "text/event-stream") == 100, "*/*");
    ok(mxhr_accept_q("text/html", "text/event-stream") == -1, "no match");
    ok(mxhr_accept_q("text/event-stream;q=0", "text/event-stream") == 0,
       "refused");
    ok(mxhr_accept_q("Text/Event-Stream", "text/event-stream") == 1000,
       "case-insensitive, q defaults to 1");
    ok(mxhr_accept_q("text/event-stream;q=2, */*;q=0.5",
                     "text/event-stream") == 500,
       "an invalid exact item is ignored: */* applies");
    ok(mxhr_accept_q("*/*;q=0.1, text/*;q=0.3, text/event-stream;q=0.7",
                     "text/event-stream") == 700,
       "precedence does not depend on order");
    ok(mxhr_accept_q("*/*;q=0.1, text/*;q=0.3", "text/event-stream") == 300,
       "type/* after */* still wins");
    ok(mxhr_accept_q("text/*;q=0, */*", "text/event-stream") == 0,
       "a refusing type/* beats an accepting */*");
    ok(mxhr_accept_q("text/event-stream;q=0.2, text/event-stream;q=0.9",
                     "text/event-stream") == 200,
       "of equally specific ranges, the first counts");
    ok(mxhr_accept_q("text/plain;q=0.9", "text/event-stream") == -1,
       "another subtype of the same type does not match");
    ok(mxhr_accept_q("text/event-stream; Q=0.5", "text/event-stream") == 500,
       "q=0.5 with OWS and Q");
    ok(mxhr_accept_q("text/event-stream;q=0.000", "text/event-stream") == 0,
       "q=0.000");
    ok(mxhr_accept_q("text/event-stream;q=1.000", "text/event-stream")
       == 1000, "q=1.000");
    ok(mxhr_accept_q("text/event-stream;q=0.125", "text/event-stream")
       == 125, "three decimals");
    ok(mxhr_accept_q("text/event-stream;x=\"a,b;q=0\\\"\";q=0.4",
                     "text/event-stream") == 400,
       "a string with a comma, a ; and an escaped quote");
    ok(mxhr_accept_q("TEXT/*;q=0.6", "text/event-stream") == 600,
       "case-insensitive type/*");
    ok(mxhr_accept_q(NULL, "text/event-stream") == -1, "no Accept");
    ok(mxhr_accept_q("*/*", "text") == -1, "a type without a slash");
    {
        /* Fuzz: random strings never crash or over-read (run under
         * valgrind to see the latter), and answer 0 or 1. */
        static const char alpha[] = ",;=\"\\ q0123456789./*abcmultipartxed\t";
        unsigned seed = 12345;
        int i, j, bad = 0;

        for (i = 0; i < 100000; i++) {
            int len = (int)((seed = seed * 1103515245 + 12345) >> 16) % 63;
            /* Exactly len + 1 bytes on the heap, so that valgrind sees a
             * read past the NUL. */
            char *h = malloc(len + 1);

            if (!h) {
                abort();
            }
            for (j = 0; j < len; j++) {
                seed = seed * 1103515245 + 12345;
                h[j] = alpha[(seed >> 16) % (sizeof(alpha) - 1)];
            }
            h[len] = '\0';
            j = mxhr_accepts_mixed(h);
            if (j != 0 && j != 1) {
                bad++;
            }
            j = mxhr_accept_q(h, "multipart/mixed");
            if (j < -1 || j > 1000) {
                bad++;
            }
            free(h);
        }
        ok(bad == 0, "100,000 random Accept headers");
    }

    /* random boundary */
    b1 = mxhr_random_boundary(p);
    b2 = mxhr_random_boundary(p);
    ok(b1 && strlen(b1) >= 24 && mxhr_boundary_valid(b1),
       "random boundary is long and valid");
    ok(b1 && b2 && strcmp(b1, b2) != 0, "random boundaries differ");

    /* time formats; 2026-11-23 19:20:58.042 UTC */
    {
        apr_time_t t = apr_time_from_sec(1795461658) + 42000;

        ok(mxhr_time_format_check("%H:%M:%S.%L", &kind) == NULL
           && kind == MXHR_TIME_STRFTIME, "strftime kind");
        len = mxhr_format_time(buf, sizeof(buf), kind, "%H:%M:%S.%L", t);
        is_str(buf, "19:20:58.042", "default format with ms");
        ok(len == 12, "length returned");
        mxhr_format_time(buf, sizeof(buf), kind, "%%L %L%%", t);
        is_str(buf, "%L 042%", "%%L stays literal");
        ok(mxhr_time_format_check("iso8601", &kind) == NULL
           && kind == MXHR_TIME_ISO8601, "iso8601 keyword");
        mxhr_format_time(buf, sizeof(buf), kind, NULL, t);
        is_str(buf, "2026-11-23T19:20:58.042Z", "iso8601 in UTC");
        ok(mxhr_time_format_check("epoch-ms", &kind) == NULL
           && kind == MXHR_TIME_EPOCH_MS, "epoch-ms keyword");
        mxhr_format_time(buf, sizeof(buf), kind, NULL, t);
        is_str(buf, "1795461658042", "epoch-ms");
        ok(mxhr_time_format_check("", &kind) != NULL, "empty format refused");
        ok(mxhr_time_format_check("%H\n", &kind) != NULL,
           "format with newline refused");
        ok(mxhr_format_time(buf, 4, MXHR_TIME_STRFTIME, "%H:%M:%S", t) == 0,
           "too small a buffer fails cleanly");
    }

    /* JSON */
    mxhr_json_body(buf, sizeof(buf), 3, "12:00:00.000", 0);
    is_str(buf, "{\"seq\": 3, \"time\": \"12:00:00.000\"}", "json string time");
    len = mxhr_json_body(buf, sizeof(buf), 4, "1795461658042", 1);
    is_str(buf, "{\"seq\": 4, \"time\": 1795461658042}", "json number time");
    ok(len == strlen(buf), "json length");
    mxhr_json_body(buf, sizeof(buf), 5, "a\"b\\c\x01", 0);
    is_str(buf, "{\"seq\": 5, \"time\": \"a\\\"b\\\\c\\u0001\"}", "json escaping");
    ok(mxhr_json_body(buf, 20, 5, "12:00:00.000", 0) == 0,
       "json that does not fit fails cleanly");

    /* parts */
    len = mxhr_part(buf, sizeof(buf), "B", 1, "text/plain", 1, "hello", 5);
    is_str(buf, "--B\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
           "Mxhr-Seq: 1\r\n\r\nhello\r\n--B", "first part");
    ok(len == strlen(buf), "first part length");
    mxhr_part(buf, sizeof(buf), "B", 0, "text/plain", 2, "hi", 2);
    is_str(buf, "\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
           "Mxhr-Seq: 2\r\n\r\nhi\r\n--B", "later part");
    /* binary body with a NUL survives */
    len = mxhr_part(buf, sizeof(buf), "B", 0, "application/octet-stream", 9,
                    "a\0b", 3);
    ok(len == strlen("\r\nContent-Type: application/octet-stream\r\n"
                     "Content-Length: 3\r\nMxhr-Seq: 9\r\n\r\n") + 3 + 5
       && memcmp(buf + len - 8, "a\0b\r\n--B", 8) == 0, "binary body");
    ok(mxhr_part(buf, 40, "B", 0, "text/plain", 2, "hi", 2) == 0,
       "a part that does not fit fails cleanly");
    {
        char big[300];
        memset(big, 'a', sizeof(big));
        memcpy(big, "text/", 5);
        big[sizeof(big) - 1] = '\0';
        ok(!mxhr_media_type_valid(big), "a media type over 255 characters is refused");
    }


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

    /* delimiter in a body */
    ok(mxhr_holds_delimiter("ab--Bcd", 7, "B"), "delimiter found");
    ok(mxhr_holds_delimiter("--B", 3, "B"), "delimiter at the start");
    ok(!mxhr_holds_delimiter("ab-Bcd", 6, "B"), "one dash is not it");
    ok(!mxhr_holds_delimiter("ab--", 4, "B"), "cut at the end");
    ok(mxhr_holds_delimiter("x\0--bound", 9, "bound"), "after a NUL");
    ok(!mxhr_holds_delimiter("--boun", 6, "bound"), "shorter body");
    ok(mxhr_holds_delimiter("----bound", 9, "bound"), "after dashes");

    /* base64 */
    {
        char out[256];
        apr_size_t n;
        char in[100];
        int i;

        n = mxhr_base64_lines(out, "", 0);
        ok(n == 0, "base64 of nothing");
        n = mxhr_base64_lines(out, "f", 1);
        out[n] = '\0';
        is_str(out, "Zg==", "base64 one byte");
        n = mxhr_base64_lines(out, "fo", 2);
        out[n] = '\0';
        is_str(out, "Zm8=", "base64 two bytes");
        n = mxhr_base64_lines(out, "foobar", 6);
        out[n] = '\0';
        is_str(out, "Zm9vYmFy", "base64 six bytes");
        for (i = 0; i < 100; i++) {
            in[i] = (char)(i * 7);
        }
        n = mxhr_base64_lines(out, in, 100);
        ok(n <= mxhr_base64_size(100) && n == 136 + 2
           && out[76] == '\r' && out[77] == '\n',
           "base64 lines of 76 with CRLF, within the size");
        n = mxhr_base64_lines(out, in, 57);
        ok(n == 76 && n < mxhr_base64_size(57),
           "57 bytes: exactly one line, no trailing CRLF");
    }

    /* part heads: the one place that frames a part's headers */
    {
        char head[512];
        apr_size_t n;

        n = mxhr_part_head(head, sizeof(head), "B", 1, "text/plain", 5, 1,
                           NULL);
        is_str(head, "--B\r\nContent-Type: text/plain\r\nContent-Length: 5"
               "\r\nMxhr-Seq: 1\r\n\r\n", "first part head");
        ok(n == strlen(head), "its length");
        mxhr_part_head(head, sizeof(head), "B", 0, "a/b", 0, 7,
                       "Mxhr-Id: 1-7\r\nMxhr-Channel: c\r\n");
        is_str(head, "\r\nContent-Type: a/b\r\nContent-Length: 0\r\n"
               "Mxhr-Seq: 7\r\nMxhr-Id: 1-7\r\nMxhr-Channel: c\r\n\r\n",
               "later part head with extra headers after Mxhr-Seq");
        ok(mxhr_part_head(head, 20, "B", 0, "a/b", 0, 7, NULL) == 0,
           "a head that does not fit fails cleanly");
        {
            /* The largest numbers and a long type: the size suffices. */
            char ct[256], hb[70 + 1], *h;
            apr_size_t size;

            memset(ct, 'x', 255);
            memcpy(ct, "x/", 2);
            ct[255] = '\0';
            memset(hb, 'b', 70);
            hb[70] = '\0';
            size = mxhr_part_head_size(hb, 1, ct, "X: y\r\n");
            h = malloc(size);
            ok(h && mxhr_part_head(h, size, hb, 1, ct, (apr_size_t)-1,
                                   APR_INT64_MAX, "X: y\r\n") > 0,
               "mxhr_part_head_size() leaves room for the longest head");
            free(h);
        }
    }

    /* SSE data lines, made once per message */
    {
        static const char *texts[] = { "hello", "", "a\r\nb\rc\nd", "\n",
                                       "caf\xc3\xa9" };
        char ref[4096], b64[4096];
        apr_size_t i, n;
        mxhr_sse_data *d;

        for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
            apr_size_t l = strlen(texts[i]);

            d = mxhr_sse_data_create(texts[i], l);
            n = mxhr_sse_event(ref, NULL, NULL, texts[i], l);
            snprintf(buf, sizeof(buf), "SSE data of text %d as an event's "
                     "data lines", (int)i);
            ok(d && !d->base64 && d->len == n && d->len <= d->size
               && memcmp(d->data, ref, n) == 0, buf);
            free(d);
        }
        {
            /* Not UTF-8: base64 lines of 76 as data lines. */
            char bin[300];

            for (i = 0; i < sizeof(bin); i++) {
                bin[i] = (char)(i * 7 + 128);
            }
            d = mxhr_sse_data_create(bin, sizeof(bin));
            n = mxhr_base64_lines(b64, bin, sizeof(bin));
            n = mxhr_sse_event(ref, NULL, NULL, b64, n);
            ok(d && d->base64 && d->len == n && d->len <= d->size
               && memcmp(d->data, ref, n) == 0,
               "a body that is not UTF-8: its base64 in data lines of 76");
            free(d);
            d = mxhr_sse_data_create("\xff", 1);
            ok(d && d->base64 && d->len == 12
               && memcmp(d->data, "data: /w==\n\n", 12) == 0,
               "one byte: one data line");
            free(d);
        }
        n = mxhr_sse_head(ref, sizeof(ref), "1-2", "news", 0);
        is_str(ref, "id: 1-2\nevent: news\n", "SSE head: id and event");
        ok(n == strlen(ref), "its length");
        mxhr_sse_head(ref, sizeof(ref), NULL, NULL, 1);
        is_str(ref, "event: message-base64\n", "SSE head of base64 data");
        mxhr_sse_head(ref, sizeof(ref), "3", "x", 1);
        is_str(ref, "id: 3\nevent: x-base64\n", "SSE head, named, base64");
        ok(mxhr_sse_head(ref, sizeof(ref), NULL, NULL, 0) == 0
           && ref[0] == '\0', "SSE head of neither: empty");
        ok(mxhr_sse_head(ref, 8, "1-2", "news", 0) == 0,
           "an SSE head that does not fit fails cleanly");
    }

    /* The memory an event costs: one block per message, shared by its
     * subscribers, of the bytes that go out (no base64 copy beside the
     * framed one). */
    {
        apr_size_t mb = 1024 * 1024, i;
        char *big = malloc(mb);
        mxhr_sse_data *d;

        if (!big) {
            abort();
        }
        for (i = 0; i < mb; i++) {
            big[i] = (char)(i * 31 + 7);
        }
        d = mxhr_sse_data_create(big, mb);
        ok(d && d->base64 && d->size <= mb * 3 / 2 + 16
           && d->size - d->len <= 1,
           "1 MB of binary: one block of at most 1.5 MB, all of it used");
        free(d);
        memset(big, 'a', mb);
        d = mxhr_sse_data_create(big, mb);
        ok(d && !d->base64 && d->size <= mb + 8 && d->size - d->len <= 1,
           "1 MB of text on one line: the body and 8 bytes");
        free(d);
        memset(big, '\n', mb);
        d = mxhr_sse_data_create(big, mb);
        ok(d && d->size <= 7 * (mb + 1) + 1 && d->size - d->len <= 1,
           "1 MB of line breaks: 7 bytes a line, as they go out");
        free(d);
        free(big);
    }
    /* fuzz the SSE data against the two-step reference */
    {
        char body[400], b64[1024], ref[8192];
        int i, j, bad = 0;

        for (i = 0; i < 20000; i++) {
            int len = rand() % 400;
            mxhr_sse_data *d;
            apr_size_t n;

            for (j = 0; j < len; j++) {
                static const char pool[] = "ab\r\n \xc3\xa9\xff";
                body[j] = rand() % 3 ? pool[rand() % (sizeof(pool) - 1)]
                                     : (char)(rand() % 256);
            }
            d = mxhr_sse_data_create(body, len);
            if (!d) {
                bad++;
                continue;
            }
            if (mxhr_utf8_valid(body, len)) {
                n = mxhr_sse_event(ref, NULL, NULL, body, len);
            }
            else {
                n = mxhr_base64_lines(b64, body, len);
                n = mxhr_sse_event(ref, NULL, NULL, b64, n);
            }
            if (d->len != n || d->len > d->size || memcmp(d->data, ref, n)
                || d->base64 == mxhr_utf8_valid(body, len)) {
                bad++;
            }
            free(d);
        }
        ok(bad == 0, "20000 fuzzed bodies: SSE data as the reference");
    }

    /* fuzz: random inputs never crash and keep their contracts */
    {
        const char *ids[16];
        char buf[600], out[2048];
        int i, j, n, bad = 0;
        apr_uint64_t a, b;

        srand(12345);
        for (i = 0; i < 100000; i++) {
            int len = rand() % 400;
            apr_size_t m;

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
                        || !mxhr_utf8_valid(ids[j], l)) {
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
            m = (apr_size_t)len < 400 ? (apr_size_t)len : 400;
            if (mxhr_base64_lines(out, buf, m) > mxhr_base64_size(m)) {
                bad++;
            }
            mxhr_holds_delimiter(buf, m, "ab");
            if (i % 1000 == 0) {
                apr_pool_clear(p);
            }
        }
        ok(bad == 0, "100000 fuzzed channel values, ids, queries, bodies");
    }


    /* Accept: SSE negotiation */
    ok(mxhr_accepts_sse("text/event-stream"), "EventSource's Accept is SSE");
    ok(!mxhr_accepts_sse("*/*"), "star range alone stays multipart");
    ok(!mxhr_accepts_sse(NULL), "no Accept stays multipart");
    ok(!mxhr_accepts_sse("multipart/mixed"), "multipart/mixed is not SSE");
    ok(!mxhr_accepts_sse("text/event-stream, multipart/mixed"),
       "a tie stays multipart");
    ok(mxhr_accepts_sse("text/event-stream, multipart/mixed;q=0.5"),
       "SSE preferred by q");
    ok(!mxhr_accepts_sse("text/event-stream;q=0.4, multipart/mixed;q=0.5"),
       "multipart preferred by q");
    ok(!mxhr_accepts_sse("text/event-stream;q=0"), "q=0 refuses SSE");
    ok(mxhr_accepts_sse("text/event-stream, */*;q=0.1"),
       "SSE over a low star range");

    /* UTF-8 */
    ok(mxhr_utf8_valid("", 0), "empty is UTF-8");
    ok(mxhr_utf8_valid("h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 12),
       "2, 3 and 4 byte sequences");
    ok(!mxhr_utf8_valid("\xc3", 1), "cut sequence");
    ok(!mxhr_utf8_valid("\xc0\xaf", 2), "overlong");
    ok(!mxhr_utf8_valid("\xed\xa0\x80", 3), "surrogate");
    ok(!mxhr_utf8_valid("\xf4\x90\x80\x80", 4), "above U+10FFFF");
    ok(!mxhr_utf8_valid("\xff", 1), "0xff");
    ok(mxhr_utf8_valid("a\0b", 3), "NUL is UTF-8");

    /* SSE events */
    {
        char out[512];
        apr_size_t n;

        n = mxhr_sse_event(out, "1-2", NULL, "hello", 5);
        ok(n == mxhr_sse_size("1-2", NULL, "hello", 5)
           && n == strlen("id: 1-2\ndata: hello\n\n")
           && memcmp(out, "id: 1-2\ndata: hello\n\n", n) == 0,
           "SSE event with id and data");
        n = mxhr_sse_event(out, "7", "news", "a\r\nb\rc\nd", 8);
        ok(n == mxhr_sse_size("7", "news", "a\r\nb\rc\nd", 8)
           && memcmp(out, "id: 7\nevent: news\ndata: a\ndata: b\ndata: c\n"
                     "data: d\n\n", n) == 0,
           "CRLF, CR and LF each end a data line");
        n = mxhr_sse_event(out, NULL, NULL, "", 0);
        ok(n == 8 && memcmp(out, "data: \n\n", n) == 0,
           "empty body: one empty data line");
        n = mxhr_sse_event(out, NULL, NULL, "x\n", 2);
        ok(memcmp(out, "data: x\ndata: \n\n", n) == 0 && n == 16,
           "trailing LF: a last empty line");
        n = mxhr_sse_event(out, NULL, NULL, "\r\n\r\n", 4);
        ok(n == mxhr_sse_size(NULL, NULL, "\r\n\r\n", 4)
           && memcmp(out, "data: \ndata: \ndata: \n\n", n) == 0,
           "blank lines stay data, never end the event");
        n = mxhr_sse_event(out, NULL, NULL, "id: evil\nevent: x", 17);
        ok(memcmp(out, "data: id: evil\ndata: event: x\n\n", n) == 0,
           "field names in a body stay data");
    }
    /* fuzz SSE: size matches, no line in the output starts other than
     * with a known field, the event ends with one blank line */
    {
        char data[300], out[4096];
        int i, j, bad = 0;

        for (i = 0; i < 20000; i++) {
            int len = rand() % 300;
            apr_size_t n, k;

            for (j = 0; j < len; j++) {
                static const char pool[] = "ab\r\n:d ";
                data[j] = pool[rand() % (sizeof(pool) - 1)];
            }
            n = mxhr_sse_event(out, "1-1", NULL, data, len);
            if (n != mxhr_sse_size("1-1", NULL, data, len) || n < 2
                || out[n - 1] != '\n' || out[n - 2] != '\n') {
                bad++;
                continue;
            }
            for (k = 0; k + 1 < n; k++) {
                if (out[k] == '\r') {
                    bad++;
                }
                if (out[k] == '\n' && k + 1 < n - 1
                    && strncmp(out + k + 1, "data: ", 6) != 0) {
                    bad++;
                }
            }
        }
        ok(bad == 0, "20000 fuzzed bodies make well-formed SSE events");
    }

    /* Redis URLs */
    {
        mxhr_redis_addr a;
        static const char *bad[] = {
            "", "redis:/x", "http://h", "redis://", "redis://:6379",
            "redis://h:0", "redis://h:65536", "redis://h:x", "redis://h/x",
            "redis://pw@h", "redis://:@h", "redis://h 1", "redis://h\r\n",
            "unix:", "unix:rel", "redis://[::1", "redis://[]:1",
            "redis://[::1]x", "redis://h:99999999999",
        };
        apr_size_t i;

        ok(mxhr_redis_url_parse(p, "redis://127.0.0.1:6380", &a) == NULL
           && strcmp(a.host, "127.0.0.1") == 0 && a.port == 6380
           && !a.password && a.db == 0 && !a.path, "redis url host:port");
        ok(mxhr_redis_url_parse(p, "redis://h", &a) == NULL
           && strcmp(a.host, "h") == 0 && a.port == 6379,
           "redis url default port");
        ok(mxhr_redis_url_parse(p, "redis://:p@ss@h:1/3", &a) == NULL
           && strcmp(a.password, "p@ss") == 0 && strcmp(a.host, "h") == 0
           && a.port == 1 && a.db == 3, "redis url password with @ and db");
        ok(mxhr_redis_url_parse(p, "redis://[::1]:7000/", &a) == NULL
           && strcmp(a.host, "::1") == 0 && a.port == 7000,
           "redis url IPv6");
        ok(mxhr_redis_url_parse(p, "unix:/run/redis.sock", &a) == NULL
           && strcmp(a.path, "/run/redis.sock") == 0 && !a.host,
           "redis url unix socket");
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            snprintf(buf, sizeof(buf), "redis url '%s' refused", bad[i]);
            ok(mxhr_redis_url_parse(p, bad[i], &a) != NULL, buf);
        }
        /* fuzz: whatever is accepted names a host and a port in range,
         * or an absolute socket path */
        {
            static const char pool[] = "redis:/unix@[]:0123456789ah x";
            int k, j, badf = 0;

            for (k = 0; k < 20000; k++) {
                int len = rand() % 40;
                char *u = malloc(len + 9);

                if (!u) {
                    abort();
                }
                j = 0;
                if (rand() % 2) {
                    memcpy(u, "redis://", 8);
                    j = 8;
                }
                for (; j < len + 8; j++) {
                    u[j] = pool[rand() % (sizeof(pool) - 1)];
                }
                u[j] = '\0';
                if (mxhr_redis_url_parse(p, u, &a) == NULL
                    && !(a.path ? a.path[0] == '/'
                                : a.host && *a.host && a.port > 0
                                  && a.port < 65536 && a.db >= 0)) {
                    badf++;
                }
                free(u);
            }
            ok(badf == 0, "20000 fuzzed Redis URLs: accepted ones are whole");
        }
    }

    printf("1..%d\n", tests_run);
    apr_pool_destroy(p);
    apr_terminate();
    return tests_failed ? 1 : 0;
}
