/* Unit tests for mxhr_accept.c; prints TAP for prove. */

#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "mxhr_accept.h"

#include "tap.h"


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

    apr_initialize();
    apr_pool_create(&p, NULL);

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

    apr_pool_destroy(p);
    apr_terminate();
    return tap_done();
}
