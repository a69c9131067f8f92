/* mod_mxhr: channel ids, message ids, query arguments, and the event
 * names the module keeps for itself.
 *
 * Pure functions over APR only (no httpd headers), so that they can be
 * unit-tested outside httpd (t/unit/ids_test.c).
 */
#ifndef MXHR_IDS_H
#define MXHR_IDS_H

#include "apr_pools.h"

#define MXHR_CHANNEL_ID_MAX 255

/* The longest SSE event name a publisher may give. */
#define MXHR_EVENT_NAME_MAX 255

/* The longest message id ("<store>-<seq>": two 20-digit numbers). */
#define MXHR_MESSAGE_ID_MAX 48

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

/* FNV-1a (64 bits) of len bytes, seed mixed in first: the one hash of
 * the shared segments (their keys, the store's index of channels). */
apr_uint64_t mxhr_hash64(const void *data, apr_size_t len,
                         apr_uint64_t seed);

#endif /* MXHR_IDS_H */
