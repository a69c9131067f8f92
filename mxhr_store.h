/* mod_mxhr: the channel store, one shared-memory segment for every
 * channel of every virtual host, across all children and across
 * graceful restarts.
 *
 * Messages live in one byte ring in publish order; each channel links
 * its kept messages. When the ring is full the oldest message of the
 * whole store goes first. Every message gets the next number of the
 * store (seq), so ids increase per channel, a subscriber's position in
 * all of its channels is one number, and an id is never reused: the
 * store's own id (its creation time) is part of it.
 *
 * A publish bumps a futex word in the segment and wakes every waiter
 * in every child with one system call.
 */
#ifndef MXHR_STORE_H
#define MXHR_STORE_H

#include "httpd.h"

#include "mxhr_ids.h"

#define MXHR_CHANNEL_NAME_MAX 255
#define MXHR_VHOST_KEY_MAX 300

/* A channel as a stream holds it: its place and its generation, which
 * changes when the channel is deleted. */
typedef struct {
    apr_uint32_t idx;
    apr_uint32_t gen;
    apr_uint32_t sub;           /* its row in the subscription table */
    apr_uint32_t tag;           /* which use of that row is ours */
} mxhr_chan_ref;

/* What the publisher answers with (nchan's channel info). */
typedef struct {
    apr_uint64_t store;         /* the ids' first half, 0: this store's */
    apr_uint64_t id;            /* the new message's seq (publish) */
    apr_uint64_t last_seq;      /* the channel's newest, 0: none */
    apr_uint32_t messages;      /* kept now */
    apr_uint32_t subscribers;
    apr_time_t requested;       /* a subscriber last came, 0: never */
} mxhr_chan_info;

/* One message handed out by mxhr_store_fetch(). */
typedef struct {
    apr_uint64_t seq;
    const char *content_type;
    const char *event;          /* SSE event name, "" when none */
    const char *body;
    apr_size_t len;
} mxhr_msg;

/* Messages copied out of the store in one malloc'd block. */
typedef struct {
    int n;
    mxhr_msg *msgs;
} mxhr_batch;

/* What mod_status shows. */
typedef struct {
    apr_uint64_t size, used;
    apr_uint64_t channels, messages, subscribers;
    apr_uint64_t published, delivered;
} mxhr_store_stats;

/* Channels: one per this many bytes of store; subscriptions (a stream
 * of 3 channels holds 3): one per SUB_BYTES. */
#define MXHR_STORE_BYTES_PER_CHANNEL 2048
#define MXHR_STORE_BYTES_PER_SUB     256

/* Results other than APR_SUCCESS. */
#define MXHR_STORE_NOTFOUND  APR_NOTFOUND
#define MXHR_STORE_TOO_BIG   APR_ENOSPC   /* cannot fit the store: 507 */
#define MXHR_STORE_FULL      APR_EAGAIN   /* no room for a channel: 507 */
#define MXHR_STORE_NONE      APR_ENOTIMPL /* no store (post_config failed) */

/* Creates the segment once, or keeps the one from before a graceful
 * restart when its size is unchanged (post_config). */
apr_status_t mxhr_store_init(apr_pool_t *pconf, server_rec *s,
                             apr_size_t size, int mirror);

/* 1 once the store exists. */
int mxhr_store_ready(void);

/* The store's id, the first half of every message id. */
apr_uint64_t mxhr_store_id(void);

/* The newest message number in the whole store. */
apr_uint64_t mxhr_store_last_seq(void);

/* Stores a message (its type, its SSE event name or NULL, its body) in
 * a channel (made if new, unless its vhost has max_channels already; 0:
 * no limit), keeping at most hist_max messages no older than
 * hist_time. */
apr_status_t mxhr_store_publish(const char *vhost, const char *name,
                                int max_channels, int hist_max,
                                apr_interval_time_t hist_time,
                                const char *content_type, const char *event,
                                const char *body, apr_size_t len,
                                mxhr_chan_info *info);

apr_status_t mxhr_store_info(const char *vhost, const char *name,
                             mxhr_chan_info *info);

/* Forgets the channel and its messages; its streams see it gone. */
apr_status_t mxhr_store_delete(const char *vhost, const char *name,
                               mxhr_chan_info *info);

/* Counts a subscriber in the channel (made if new, keeping at most
 * hist_max messages no older than hist_time until a publish sets its
 * own) and gives its ref. */
apr_status_t mxhr_store_subscribe(const char *vhost, const char *name,
                                  int max_channels, int hist_max,
                                  apr_interval_time_t hist_time,
                                  mxhr_chan_ref *ref);

/* The parent's child_status hook: notes, without the store's lock, a
 * child that died (a crash, kill -9); the children give back the
 * subscriptions it held the next times they take the lock. */
void mxhr_store_register_hooks(apr_pool_t *p);

/* Gives back a subscription; nothing if the channel is gone. */
void mxhr_store_unsubscribe(const mxhr_chan_ref *ref);

/* Lock-free: the channel's newest seq, or (apr_uint64_t)-1 when the
 * channel is gone (deleted). */
apr_uint64_t mxhr_store_chan_last(const mxhr_chan_ref *ref);

/* Copies the channel's kept messages with after < seq <= upto (the last
 * last_n of them when last_n > 0; with live, also those beyond its
 * history that stay a moment for delivery), the first ones up to limit
 * bytes
 * (0: no limit; at least one message), into *out (NULL when none; free
 * with free()); *more says some were left for another call. *dropped
 * is the newest seq the channel no longer keeps (evicted, expired): a
 * reader positioned before it has missed messages.
 * MXHR_STORE_NOTFOUND when the channel is gone. */
apr_status_t mxhr_store_fetch(const mxhr_chan_ref *ref, apr_uint64_t after,
                              apr_uint64_t upto, int last_n, int live,
                              apr_size_t limit, mxhr_batch **out,
                              apr_uint64_t *dropped, int *more);

/* Lock-free, for the engine: the channel of message seq, if seq is
 * among the last MXHR_STORE_CHANGES published (1), else 0 (look at
 * every subscription). */
#define MXHR_STORE_CHANGES 8192
int mxhr_store_changed(apr_uint64_t seq, apr_uint32_t *chan);

/* Lock-free: changes when channels are deleted or the store emptied
 * (streams of gone channels must look). */
apr_uint32_t mxhr_store_deletes(void);

/* The largest body the store could hold at all (with a short type). */
apr_size_t mxhr_store_max_message(void);

/* Gives this process a futex word of its own if one is free (up to 64
 * processes), so that publishes to channels it does not serve do not
 * wake it (child_init). */
void mxhr_store_child_init(apr_pool_t *pchild);

/* This process's futex word: changes with every publish to a channel
 * it serves, and every delete. */
apr_uint32_t mxhr_store_epoch(void);

/* Waits until the word differs from seen, or timeout passes. */
void mxhr_store_wait(apr_uint32_t seen, apr_interval_time_t timeout);

/* Wakes this process's waiters (its watcher, at its exit). */
void mxhr_store_wake_all(void);

void mxhr_store_count_delivered(apr_uint64_t n);

void mxhr_store_get_stats(mxhr_store_stats *st);

/* ---- Redis mode (mxhr_redis.c): the store mirrors Redis ----------- *
 *
 * Ids are Redis's: the store's id is Redis's epoch and seqs are its
 * publish counter. Each child reads every publish from Redis, in order,
 * and the first to see one copies it into a channel that this server
 * serves; the others skip it. */

/* What every child of a server shares about Redis (in the store). */
typedef struct {
    apr_uint64_t server_id;             /* this server, in Redis */
    volatile apr_uint32_t up;           /* 1: reachable */
    volatile apr_uint32_t down_logged;  /* this outage was logged */
    volatile apr_uint64_t reconnects, in, out;
    /* Shared by processes: read and written with apr_atomic_* only. */
    volatile apr_uint64_t retry_at;     /* no attempts before, when down */
    volatile apr_uint64_t backoff;
    volatile apr_uint64_t counts_at;    /* counts last written */
    volatile apr_uint32_t counts_changes;
} mxhr_redis_shared;

/* NULL unless the store mirrors Redis. */
mxhr_redis_shared *mxhr_store_redis(void);

/* Takes Redis's epoch as the store's id, emptying the store (1) when it
 * had another: publishes are then read from seq on. */
int mxhr_store_adopt(apr_uint64_t epoch, apr_uint64_t seq);

#define MXHR_MIRROR_MESSAGE 0
#define MXHR_MIRROR_DELETE  1

typedef struct {
    apr_uint64_t epoch, id;
    int kind;
    const char *vhost, *name;
    const char *content_type, *event, *body;
    apr_size_t len;
    int hist_max;
    apr_interval_time_t hist_time;
    apr_time_t time;
} mxhr_mirror_msg;

/* Results of mxhr_store_mirror(). */
#define MXHR_MIRROR_DONE    0
#define MXHR_MIRROR_SKIPPED 1   /* had it already */
#define MXHR_MIRROR_EPOCH   2   /* another epoch: adopt it first */
#define MXHR_MIRROR_GAP     3   /* done, after publishes never seen */

/* Copies a publish read from Redis into the store (only into a channel
 * this server serves), or forgets a deleted channel. */
int mxhr_store_mirror(const mxhr_mirror_msg *m);

/* In mxhr_store_changed(): a seq that went to no channel here. */
#define MXHR_STORE_NO_CHAN 0xffffffffu

/* Calls fn for every channel with subscribers on this server, under the
 * lock (fn must be quick); *changes is the subscription counter it saw.
 * MXHR_STORE_NONE without a store. */
apr_status_t mxhr_store_each_counted(void (*fn)(void *ctx,
                                                 const char *vhost,
                                                 const char *name,
                                                 apr_uint32_t n),
                                     void *ctx, apr_uint32_t *changes);

/* Changes with every subscribe and unsubscribe. */
apr_uint32_t mxhr_store_sub_changes(void);

/* Changes when the store is emptied (a crash, Redis's epoch). */
apr_uint32_t mxhr_store_resets(void);

/* Subscribers of the channel on this server, lock-free. */
apr_uint32_t mxhr_store_subscribers(const mxhr_chan_ref *ref);

#endif /* MXHR_STORE_H */
