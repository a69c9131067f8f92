/* Unit tests for mxhr_frame.c; prints TAP for prove. */

#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "mxhr_frame.h"

#include "tap.h"

int main(void)
{
    apr_pool_t *p;
    char buf[256];
    apr_size_t len;
    mxhr_time_kind kind;
    char *b1, *b2;

    apr_initialize();
    apr_pool_create(&p, NULL);
    setenv("TZ", "UTC", 1);

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

    /* fuzz: base64 stays within its size, delimiter search never
     * over-reads */
    {
        char in[400], out[1024];
        int i, j, bad = 0;

        srand(12345);
        for (i = 0; i < 100000; i++) {
            apr_size_t m = (apr_size_t)(rand() % 400);

            for (j = 0; j < (int)m; j++) {
                static const char pool[] = "ab-\r\n\xff";
                in[j] = rand() % 4 ? pool[rand() % (sizeof(pool) - 1)]
                                   : (char)(rand() % 256);
            }
            if (mxhr_base64_lines(out, in, m) >= mxhr_base64_size(m)) {
                bad++;
            }
            mxhr_holds_delimiter(in, m, "ab");
        }
        ok(bad == 0, "100000 fuzzed bodies: base64 within its size");
    }

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

    apr_pool_destroy(p);
    apr_terminate();
    return tap_done();
}
