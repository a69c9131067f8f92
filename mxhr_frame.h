/* mod_mxhr: multipart framing and value parsing.
 *
 * Pure functions over APR only (no httpd headers), so that they can be
 * unit-tested outside httpd (t/unit/frame_test.c).
 */
#ifndef MXHR_FRAME_H
#define MXHR_FRAME_H

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

/* 1 when an Accept header lists multipart/mixed itself (not through a
 * wildcard) with a non-zero q. Parsed as RFC 9110 12.5.1 says: items
 * split at commas outside quoted strings, and an item that does not
 * follow the grammar (an invalid qvalue such as q=-1, q=abc, q=1.5, an
 * unterminated string) is ignored. */
int mxhr_accepts_mixed(const char *accept);

/* The q-value, in thousandths (0 to 1000), that an Accept header gives
 * the media type "type/subtype" (no parameters): that of the most
 * specific range matching it (the type itself, then "type/" with a star,
 * then the star range; the first of equals). -1 when no valid range
 * matches. */
int mxhr_accept_q(const char *accept, const char *type);

/* 1 when an Accept header prefers text/event-stream: a positive q
 * higher than both multipart types get (so a star range alone, or a
 * tie, keeps multipart). */
int mxhr_accepts_sse(const char *accept);

/* A fresh random boundary of at least 24 characters, or NULL when the
 * random source fails. */
char *mxhr_random_boundary(apr_pool_t *p);

/* Classifies an MxhrTimeFormat value: keywords iso8601/epoch-ms, else a
 * strftime format. Returns NULL or a reason it is refused. */
const char *mxhr_time_format_check(const char *fmt, mxhr_time_kind *kind);

/* Renders t into buf (NUL-terminated); returns the length, 0 on
 * failure (e.g. the result does not fit). */
apr_size_t mxhr_format_time(char *buf, apr_size_t size, mxhr_time_kind kind,
                            const char *fmt, apr_time_t t);

/* Media types longer than this are refused (a part must fit its
 * buffer, see MXHR_PART_MAX). */
#define MXHR_MEDIA_TYPE_MAX 255

/* Room for a section's body and for a whole part: sections are built in
 * buffers of these sizes, not in pools, so a stream costs no memory per
 * section. */
#define MXHR_BODY_MAX 4096
#define MXHR_PART_MAX (MXHR_BODY_MAX + 512)

/* Writes the JSON body {"seq": N, "time": ...} into buf (time is a JSON
 * number when time_is_number, else an escaped string). Returns its
 * length, or 0 when it does not fit. */
apr_size_t mxhr_json_body(char *buf, apr_size_t size, apr_int64_t seq,
                          const char *time, int time_is_number);

/* The bytes, NUL included, that mxhr_part_head() needs at most. */
apr_size_t mxhr_part_head_size(const char *boundary, int first,
                               const char *content_type,
                               const char *headers);

/* Writes the head of a part into buf (NUL-terminated): the first part
 * opens the body with the dash-boundary; then CRLF, Content-Type,
 * Content-Length, Mxhr-Seq, the extra headers (each ending CRLF, or
 * NULL) and the blank line. The one place that frames a part's
 * headers. Returns its length, or 0 when it does not fit. */
apr_size_t mxhr_part_head(char *buf, apr_size_t size, const char *boundary,
                          int first, const char *content_type,
                          apr_size_t body_len, apr_int64_t seq,
                          const char *headers);

/* Writes one complete part into buf; returns its length, or 0 when it
 * does not fit. The first part opens the body with the dash-boundary;
 * every part ends with CRLF "--boundary" so that a reader knows it is
 * complete as soon as it arrives. */
apr_size_t mxhr_part(char *buf, apr_size_t size, const char *boundary,
                     int first, const char *content_type, apr_int64_t seq,
                     const char *body, apr_size_t body_len);

/* What closes a body whose last part already sent its delimiter:
 * "--" CRLF completes the close-delimiter "--boundary--". */
#define MXHR_CLOSE_TAIL "--\r\n"

/* ---- Channels --------------------------------------------------------- */

#define MXHR_CHANNEL_ID_MAX 255

/* 1 when an SSE event name (len bytes) is one the module reserves for
 * its own events: any "mxhr-..." (mxhr-close, mxhr-history-lost and
 * those to come) and any "...-base64" (a body that is not UTF-8 goes as
 * "<name>-base64"), in any case. A publisher may not use them, and no
 * channel id may be one (a stream of several channels names each event
 * by its channel). */
int mxhr_event_name_reserved(const char *name, apr_size_t len);

/* Splits a MxhrChannel value into ids (commas separate, spaces and tabs
 * around them are ignored, duplicates count once), at most max. NULL on
 * success, else what is wrong: an empty id, one longer than 255 bytes,
 * one with a control character or a space, one that is not UTF-8, a
 * reserved event name (mxhr_event_name_reserved()), more than max. The
 * ids are copied into p. */
const char *mxhr_channel_split(apr_pool_t *p, const char *value,
                               const char **ids, int max, int *n);

/* Parses a message id "<store>-<seq>" (decimal, nothing else): 1 and
 * the two numbers, or 0. */
int mxhr_message_id_parse(const char *id, apr_uint64_t *store,
                          apr_uint64_t *seq);

/* What %00 decodes to in a query argument: SUB, a control character,
 * so that the value is never cut short at a NUL and no id holds it. */
#define MXHR_ARG_NUL '\x1a'

/* The value of query argument name in args ("a=1&b=2", ';' separates
 * too), URL-decoded ('+' is a space; %00 gives MXHR_ARG_NUL), copied
 * into p; "" when it has no value or a bad escape; NULL when absent. */
const char *mxhr_query_arg(apr_pool_t *p, const char *args,
                           const char *name);

/* 1 when body holds "--boundary", which would end a part early. */
int mxhr_holds_delimiter(const char *body, apr_size_t len,
                         const char *boundary);

/* Base64 (RFC 2045, encoded by APR-util) of len bytes of in, in lines
 * of at most 76 characters separated by CRLF, into out
 * (mxhr_base64_size(len) bytes: its length and a NUL); returns its
 * length. */
apr_size_t mxhr_base64_size(apr_size_t len);
apr_size_t mxhr_base64_lines(char *out, const char *in, apr_size_t len);

/* The same in a malloc'd block (free() it); NULL when out of memory. */
char *mxhr_base64_alloc(const char *in, apr_size_t len,
                        apr_size_t *out_len);

/* ---- Server-sent events ----------------------------------------------- */

/* 1 when len bytes of s are valid UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
int mxhr_utf8_valid(const char *s, apr_size_t len);

/* The bytes mxhr_sse_event() writes for these arguments. */
apr_size_t mxhr_sse_size(const char *id, const char *event,
                         const char *data, apr_size_t len);

/* Writes one event: "id: ID" (when id), "event: EVENT" (when event), a
 * "data: " line per line of data (CRLF, CR and LF all end a line, so no
 * body can forge a field), and the blank line that dispatches it; into
 * out, mxhr_sse_size() bytes. Returns the length written. id and event
 * must hold no CR or LF. */
apr_size_t mxhr_sse_event(char *out, const char *id, const char *event,
                          const char *data, apr_size_t len);

/* A message's body as the data lines of an event and the blank line
 * that dispatches it, made once per message for every stream that sends
 * it (so that none copies or encodes it again). A body that is not
 * UTF-8 is sent in base64 (lines of 76) under the event name
 * "<event or message>-base64". One malloc'd block: free() it. */
typedef struct {
    int base64;                 /* the lines are the body's base64 */
    const char *data;           /* "data: " lines, then the blank line */
    apr_size_t len;
    apr_size_t size;            /* what was allocated for data */
} mxhr_sse_data;

/* NULL when out of memory. The block holds at most
 * 7 * (len + 1) + 1 bytes (a body of line breaks), 1.5 * len + 16 for
 * base64. */
mxhr_sse_data *mxhr_sse_data_create(const char *body, apr_size_t len);

/* Writes an event's "id: ID" and "event: EVENT" lines (either may be
 * NULL; with base64 the event is "<event or message>-base64") into out,
 * NUL-terminated. Returns the length, 0 when it does not fit. id and
 * event must hold no CR or LF. */
apr_size_t mxhr_sse_head(char *out, apr_size_t size, const char *id,
                         const char *event, int base64);

/* A heartbeat: a comment line, which EventSource ignores. */
#define MXHR_SSE_HEARTBEAT ":\n\n"

/* Where Redis is (MxhrRedis): "redis://[:password@]host[:port][/db]"
 * or "unix:/path". */
typedef struct {
    const char *host;           /* NULL: a unix socket */
    int port;
    const char *path;           /* the socket, for "unix:" */
    const char *password;       /* NULL: none */
    int db;
} mxhr_redis_addr;

/* Parses a Redis URL into *out (strings in p). NULL on success, else
 * what is wrong. */
const char *mxhr_redis_url_parse(apr_pool_t *p, const char *url,
                                 mxhr_redis_addr *out);

#endif /* MXHR_FRAME_H */
