/* mod_mxhr: framing: multipart parts, server-sent events, base64 (by
 * APR-util), a clock section's body.
 *
 * Pure functions over APR only (no httpd headers), so that they can be
 * unit-tested outside httpd (t/unit/frame_test.c).
 */
#ifndef MXHR_FRAME_H
#define MXHR_FRAME_H

#include "apr_pools.h"
#include "apr_time.h"

#include "mxhr_value.h"
/* Until their callers include them themselves: mod_mxhr.c
 * (mxhr_accept.h), mxhr_channel.c and mxhr_publish.c (mxhr_ids.h). */
#include "mxhr_accept.h"
#include "mxhr_ids.h"

/* A fresh random boundary of at least 24 characters, or NULL when the
 * random source fails. */
char *mxhr_random_boundary(apr_pool_t *p);

/* Renders t into buf (NUL-terminated); returns the length, 0 on
 * failure (e.g. the result does not fit). */
apr_size_t mxhr_format_time(char *buf, apr_size_t size, mxhr_time_kind kind,
                            const char *fmt, apr_time_t t);

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

#endif /* MXHR_FRAME_H */
