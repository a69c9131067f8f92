/* mod_mxhr: Accept negotiation (RFC 9110 12.5.1): which framing a
 * request asks for.
 *
 * Pure functions over APR only (no httpd headers), so that they can be
 * unit-tested outside httpd (t/unit/accept_test.c).
 */
#ifndef MXHR_ACCEPT_H
#define MXHR_ACCEPT_H

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

#endif /* MXHR_ACCEPT_H */
