/* mod_mxhr: the values of directives and headers: durations, counts,
 * boundaries, media types, time formats, UTF-8.
 *
 * Pure functions over APR only (no httpd headers), so that they can be
 * unit-tested outside httpd (t/unit/value_test.c).
 */
#ifndef MXHR_VALUE_H
#define MXHR_VALUE_H

#include "apr_pools.h"
#include "apr_time.h"

/* RFC 2046: a boundary is 1 to 70 characters. */
#define MXHR_BOUNDARY_MAX 70

/* How a section's time is rendered. */
typedef enum {
    MXHR_TIME_STRFTIME = 0,     /* local time, strftime plus %L (ms) */
    MXHR_TIME_ISO8601,          /* UTC, 2026-11-23T19:20:58.123Z */
    MXHR_TIME_EPOCH_MS          /* integer milliseconds since 1970 */
} mxhr_time_kind;

/* Parses "5", "5s", "250ms", "2m", "1h" into *out. Returns NULL on
 * success, else a short reason (static string) for the admin. */
const char *mxhr_parse_duration(const char *arg, apr_interval_time_t *out);

/* Parses a non-negative decimal integer no larger than max. */
const char *mxhr_parse_count(const char *arg, apr_int64_t max,
                             apr_int64_t *out);

/* 1 when b is a valid RFC 2046 boundary: 1-70 bchars, not ending in
 * a space. */
int mxhr_boundary_valid(const char *b);

/* 1 when t looks like "type/subtype[; params]" with token characters
 * and no control characters (so no CR/LF header injection). */
int mxhr_media_type_valid(const char *t);

/* 1 when the media type is application/json or any structured +json
 * type (parameters ignored, case-insensitive). */
int mxhr_media_type_is_json(const char *t);

/* Media types longer than this are refused (a part must fit its
 * buffer, see MXHR_PART_MAX). */
#define MXHR_MEDIA_TYPE_MAX 255

/* Past the RFC 9110 token (tchars) that starts at p: p itself when
 * none does. */
const char *mxhr_token_end(const char *p);

/* Classifies an MxhrTimeFormat value: keywords iso8601/epoch-ms, else a
 * strftime format. Returns NULL or a reason it is refused. */
const char *mxhr_time_format_check(const char *fmt, mxhr_time_kind *kind);

/* 1 when len bytes of s are valid UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
int mxhr_utf8_valid(const char *s, apr_size_t len);

#endif /* MXHR_VALUE_H */
