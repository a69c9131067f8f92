/* Unit tests for mxhr_value.c; prints TAP for prove. */

#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "mxhr_value.h"

#include "tap.h"

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

int main(void)
{
    apr_pool_t *p;
    apr_int64_t n;

    apr_initialize();
    apr_pool_create(&p, NULL);

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

    apr_pool_destroy(p);
    apr_terminate();
    return tap_done();
}
