/* mod_mxhr: channels in Redis (see mxhr_redis.h).
 *
 * Keys, all under "mxhr:":
 *   mxhr:epoch            the epoch (made on first use: Redis's clock in
 *                         microseconds); a Redis that lost its data
 *                         makes a new one, and old ids are "lost"
 *   mxhr:seq              the publish counter, the second half of ids
 *   mxhr:s:<ck>           a channel's history (a stream; entry id
 *                         "<seq>-0", fields t time, p previous seq,
 *                         c type, e event, b body)
 *   mxhr:m:<ck>           a channel's last seq, history limits, last
 *                         subscriber's time (kept an hour after the
 *                         history expires, so a late resume is told
 *                         "lost"; then forgotten, its last seq folded
 *                         into mxhr:forgotten)
 *   mxhr:metas            when each channel's record is forgotten
 *   mxhr:forgotten        the newest seq of a forgotten channel
 *   mxhr:all              every publish and delete, in order, trimmed
 *                         to about ALL_MAX: what the children read
 *   mxhr:servers          live servers (score: when each expires)
 *   mxhr:subs:<server>    a server's subscriber count per channel
 * where <ck> is "<vhost length>:<vhost>:<channel>".
 *
 * Every change is one Lua script, so Redis applies it whole and in
 * order: a publish's seq, its history entry and its entry in mxhr:all
 * cannot part.
 */

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "apr_atomic.h"
#include "apr_strings.h"
#include "apr_thread_proc.h"
#include "apr_thread_mutex.h"

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "ap_mpm.h"
#include "mpm_common.h"

#include "mxhr_config.h"
#include "mxhr_private.h"
#include "mxhr_redis.h"
#include "mxhr_redis_lua.h"

/* Publishes kept in mxhr:all (redis/common.lua). */
#define ALL_MAX MXHR_LUA_ALL_MAX
/* Publishes read at once by a child; fewer after a batch of big ones,
 * so that one read never holds more than about READ_BYTES. */
#define READ_COUNT 256
#define READ_BYTES (8 * 1024 * 1024)
/* A child's read blocks this long when nothing comes (ms). */
#define READ_BLOCK 1000
/* When quiet, Redis's epoch is asked at most this often. */
#define HELLO_EVERY apr_time_from_sec(2)
#define BACKOFF_MIN apr_time_from_msec(100)
#define BACKOFF_MAX apr_time_from_sec(5)
/* Idle connections kept per child for requests. */
#define IDLE_MAX 16
/* The most a subscription's start reads from Redis (bytes of bodies):
 * beyond, its newest messages, and "lost". */
#define BACKLOG_MAX (8 * 1024 * 1024)

/* ---- Scripts --------------------------------------------------------- */

/* The scripts are the .lua files of redis/; the build makes them C
 * strings with their SHA1s (redis/lua2h.pl), so that no child computes
 * them. */
typedef struct {
    const char *text;
    const char *sha;
} script;

#define SCRIPT(name, NAME) \
    static const script s_##name = { mxhr_lua_##name, MXHR_LUA_##NAME##_SHA1 };
MXHR_LUA_SCRIPTS(SCRIPT)
#undef SCRIPT

/* ---- Connections ----------------------------------------------------- */

static struct {
    server_rec *s;
    apr_thread_mutex_t *lock;
    redisContext *idle[IDLE_MAX];
    int n_idle;
    /* the reader */
    apr_pool_t *pool;           /* its thread's, apart from pchild */
    apr_thread_t *thread;
    volatile apr_uint32_t stop;
    volatile int fd;            /* its socket, -1: none */
    apr_time_t refused_logged;  /* an error reply was last logged */
    const char *where;          /* Redis, for the log (no password) */
} rc = { NULL, NULL, { NULL }, 0, NULL, NULL, 0, -1, 0, NULL };

int mxhr_redis_enabled(void)
{
    return mxhr_config_redis() != NULL;
}

static struct timeval to_tv(apr_interval_time_t t)
{
    struct timeval tv;

    tv.tv_sec = (long)apr_time_sec(t);
    tv.tv_usec = (long)apr_time_usec(t);
    return tv;
}

static void conn_drop_idle(void);

/* Says Redis is unreachable: once per outage in the log; requests are
 * refused at once until the shared retry time passes.
 *
 * Every child sees the same failure (Redis closed all their
 * connections at once): that is one round, and it doubles the back-off
 * once. Only the child whose compare-and-swap moves the retry time
 * doubles it; the others find a retry time still ahead and leave both
 * alone. (Each child used to double it: ten prefork children reached
 * the 5 s ceiling within a millisecond of the first failure.) */
static void went_down(const char *why)
{
    mxhr_redis_shared *sh = mxhr_store_redis();
    apr_uint64_t now, at, b;

    if (!sh) {
        return;
    }
    apr_atomic_set32(&sh->up, 0);
    now = (apr_uint64_t)apr_time_now();
    at = apr_atomic_read64(&sh->retry_at);
    if (now >= at) {
        b = apr_atomic_read64(&sh->backoff);
        b = b ? b * 2 : BACKOFF_MIN;
        if (b > BACKOFF_MAX) {
            b = BACKOFF_MAX;
        }
        if (apr_atomic_cas64(&sh->retry_at, now + b, at) == at) {
            apr_atomic_set64(&sh->backoff, b);
            ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, rc.s, MXHR_LOGNO(087)
                         "Redis at %s: requests are refused for %"
                         APR_UINT64_T_FMT " ms (%s)", rc.where,
                         b / 1000, why);
        }
    }
    conn_drop_idle();
    if (apr_atomic_cas32(&sh->down_logged, 1, 0) == 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, rc.s, MXHR_LOGNO(080)
                     "Redis at %s is unreachable (%s): publishes and new "
                     "subscriptions get 503 until it is back; open streams "
                     "stay", rc.where, why);
    }
}

static void came_up(void)
{
    mxhr_redis_shared *sh = mxhr_store_redis();

    if (!sh || apr_atomic_read32(&sh->up)) {
        return;
    }
    apr_atomic_set64(&sh->backoff, 0);
    apr_atomic_set64(&sh->retry_at, 0);
    apr_atomic_set32(&sh->up, 1);
    if (apr_atomic_cas32(&sh->down_logged, 0, 1) == 1) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, rc.s, MXHR_LOGNO(081)
                     "Redis at %s is reachable again", rc.where);
    }
}

/* One command of a connection's setup (AUTH, SELECT), within what is
 * left before deadline; 0 with why (in p) when it fails. */
static int setup_command(redisContext *c, apr_pool_t *p, apr_time_t deadline,
                         const char *what, const char **why,
                         const char *fmt, ...)
{
    apr_time_t left = deadline - apr_time_now();
    redisReply *rep;
    va_list ap;

    if (left < apr_time_from_msec(1)) {
        *why = "timed out";
        return 0;
    }
    redisSetTimeout(c, to_tv(left));
    va_start(ap, fmt);
    rep = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (!rep || rep->type == REDIS_REPLY_ERROR) {
        *why = rep ? apr_pstrcat(p, what, ": ", rep->str, NULL)
                   : apr_pstrdup(p, c->errstr);
        if (rep) {
            freeReplyObject(rep);
        }
        return 0;
    }
    freeReplyObject(rep);
    return 1;
}

/* A new connection, authenticated and on its database; NULL with why
 * (in p) when it fails. */
static redisContext *rconnect(apr_pool_t *p, apr_interval_time_t timeout,
                              const char **why)
{
    apr_time_t deadline = apr_time_now() + timeout;
    const mxhr_redis_addr *a = mxhr_config_redis();
    struct timeval tv = to_tv(timeout);
    redisContext *c;

    c = a->path ? redisConnectUnixWithTimeout(a->path, tv)
                : redisConnectWithTimeout(a->host, a->port, tv);
    if (!c || c->err) {
        *why = c ? apr_pstrdup(p, c->errstr) : "out of memory";
        if (c) {
            redisFree(c);
        }
        return NULL;
    }
    /* AUTH and SELECT within what is left of the timeout. */
    if (deadline - apr_time_now() < apr_time_from_msec(1)) {
        *why = "timed out";
    }
    else if ((!a->password || setup_command(c, p, deadline, "AUTH", why,
                                            "AUTH %s", a->password))
             && (!a->db || setup_command(c, p, deadline, "SELECT", why,
                                         "SELECT %d", a->db))) {
        redisSetTimeout(c, tv);
        return c;
    }
    redisFree(c);
    return NULL;
}

/* An idle connection (*reused set), or a new one. */
static redisContext *conn_get(apr_pool_t *p, apr_interval_time_t timeout,
                              int *reused, const char **why)
{
    redisContext *c = NULL;

    for (;;) {
        struct pollfd pfd;

        apr_thread_mutex_lock(rc.lock);
        c = rc.n_idle ? rc.idle[--rc.n_idle] : NULL;
        apr_thread_mutex_unlock(rc.lock);
        if (!c) {
            break;
        }
        /* An idle connection has nothing to read: if it has, Redis
         * closed it (a restart, its timeout). */
        pfd.fd = c->fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        if (poll(&pfd, 1, 0) == 0) {
            break;
        }
        redisFree(c);
    }
    *reused = c != NULL;
    if (!c && timeout < apr_time_from_msec(1)) {
        *why = "timed out";
        return NULL;
    }
    return c ? c : rconnect(p, timeout, why);
}

/* Closes the idle connections: after an outage they lead nowhere. */
static void conn_drop_idle(void)
{
    redisContext *idle[IDLE_MAX];
    int n, i;

    if (!rc.lock) {
        return;
    }
    apr_thread_mutex_lock(rc.lock);
    n = rc.n_idle;
    memcpy(idle, rc.idle, n * sizeof(idle[0]));
    rc.n_idle = 0;
    apr_thread_mutex_unlock(rc.lock);
    for (i = 0; i < n; i++) {
        redisFree(idle[i]);
    }
}

static void conn_put(redisContext *c)
{
    redisSetTimeout(c, to_tv(mxhr_config_redis_timeout()));
    apr_thread_mutex_lock(rc.lock);
    if (rc.n_idle < IDLE_MAX) {
        rc.idle[rc.n_idle++] = c;
        c = NULL;
    }
    apr_thread_mutex_unlock(rc.lock);
    if (c) {
        redisFree(c);
    }
}

/* Runs a script on c (loading it once if Redis does not know it),
 * within deadline (0: the connection's timeout). NULL when the
 * connection failed or the time ran out (c is then unusable). */
static redisReply *eval(redisContext *c, const script *sc, int nkeys,
                        int nargs, const char **args, const size_t *lens,
                        apr_time_t deadline)
{
    const char **argv = malloc((3 + nargs) * sizeof(*argv));
    size_t *argl = malloc((3 + nargs) * sizeof(*argl));
    char nk[16];
    redisReply *rep = NULL;
    int i, tries;

    if (!argv || !argl) {
        free(argv);
        free(argl);
        return NULL;
    }
    apr_snprintf(nk, sizeof(nk), "%d", nkeys);
    argv[1] = sc->sha;
    argl[1] = strlen(sc->sha);
    argv[2] = nk;
    argl[2] = strlen(nk);
    for (i = 0; i < nargs; i++) {
        argv[3 + i] = args[i];
        argl[3 + i] = lens ? lens[i] : strlen(args[i]);
    }
    for (tries = 0; tries < 2; tries++) {
        /* Redis forgets scripts when it restarts. */
        argv[0] = tries ? "EVAL" : "EVALSHA";
        argl[0] = strlen(argv[0]);
        if (deadline) {
            apr_time_t left = deadline - apr_time_now();

            if (left < apr_time_from_msec(1)) {
                break;
            }
            redisSetTimeout(c, to_tv(left));
        }
        if (tries) {
            argv[1] = sc->text;
            argl[1] = strlen(sc->text);
        }
        rep = redisCommandArgv(c, 3 + nargs, argv, argl);
        if (!rep || rep->type != REDIS_REPLY_ERROR
            || strncmp(rep->str, "NOSCRIPT", 8) != 0) {
            break;
        }
        freeReplyObject(rep);
        rep = NULL;
    }
    free(argv);
    free(argl);
    return rep;
}

/* Runs a script for a request: refused at once while Redis is known to
 * be down (until the back-off passes), never waiting longer than
 * MxhrRedisTimeout. NULL with *why and *rv otherwise. */
static redisReply *request_eval(request_rec *r, const script *sc, int nkeys,
                                int nargs, const char **args,
                                const size_t *lens, const char **why,
                                apr_status_t *rv)
{
    mxhr_redis_shared *sh = mxhr_store_redis();
    apr_time_t deadline = apr_time_now() + mxhr_config_redis_timeout();
    redisContext *c;
    redisReply *rep;

    *rv = MXHR_REDIS_DOWN;
    if (!sh) {
        *why = "the channel store is not ready";
        return NULL;
    }
    if (!rc.lock) {
        *why = "this child could not set up its Redis connections (MXHR086)";
        return NULL;
    }
    if (!apr_atomic_read32(&sh->up) && apr_atomic_read32(&sh->down_logged)
        && (apr_uint64_t)apr_time_now() < apr_atomic_read64(&sh->retry_at)) {
        *why = "Redis is unreachable";
        return NULL;
    }
    for (;;) {
        int reused;

        c = conn_get(r->pool, deadline - apr_time_now(), &reused, why);
        if (!c) {
            went_down(*why);
            *why = apr_pstrcat(r->pool, "Redis is unreachable: ", *why,
                               NULL);
            return NULL;
        }
        /* The connection's time counts too: never longer than the
         * timeout in all. */
        rep = eval(c, sc, nkeys, nargs, args, lens, deadline);
        if (rep || !reused || apr_time_now() >= deadline) {
            break;
        }
        /* An idle connection that Redis closed meanwhile (it restarted,
         * or its timeout): once more on a new one. */
        redisFree(c);
    }
    if (!rep) {
        *why = apr_pstrcat(r->pool, "Redis is unreachable: ",
                           c->errstr[0] ? c->errstr : "no answer", NULL);
        went_down(c->errstr[0] ? c->errstr : "no answer");
        redisFree(c);
        return NULL;
    }
    conn_put(c);
    if (rep->type == REDIS_REPLY_ERROR) {
        *rv = MXHR_REDIS_REFUSED;
        *why = apr_pstrcat(r->pool, "Redis refused: ", rep->str, NULL);
        /* Once in a while, not for every request (a full Redis refuses
         * them all). */
        if (apr_time_now() - rc.refused_logged > apr_time_from_sec(10)) {
            rc.refused_logged = apr_time_now();
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, MXHR_LOGNO(082)
                          "%s (logged at most every 10s)", *why);
        }
        freeReplyObject(rep);
        return NULL;
    }
    came_up();
    *rv = APR_SUCCESS;
    return rep;
}

/* ---- Replies ---------------------------------------------------------- */

static apr_uint64_t rnum(const redisReply *e)
{
    if (!e) {
        return 0;
    }
    if (e->type == REDIS_REPLY_INTEGER) {
        return e->integer > 0 ? (apr_uint64_t)e->integer : 0;
    }
    if (e->type == REDIS_REPLY_STRING) {
        apr_int64_t v = apr_strtoi64(e->str, NULL, 10);

        return v > 0 ? (apr_uint64_t)v : 0;
    }
    return 0;
}

static const redisReply *elem(const redisReply *a, size_t i)
{
    return a && a->type == REDIS_REPLY_ARRAY && i < a->elements
           ? a->element[i] : NULL;
}

/* "<vhost length>:<vhost>:<channel>": no vhost/channel pair can be
 * taken for another. With keys, also the channel's two Redis keys:
 * keys[0] its history, keys[1] its record. */
static const char *chan_key(apr_pool_t *p, const char *vhost,
                            const char *name, const char **keys)
{
    const char *ck = apr_psprintf(p, "%" APR_SIZE_T_FMT ":%s:%s",
                                  strlen(vhost), vhost, name);

    if (keys) {
        keys[0] = apr_pstrcat(p, "mxhr:s:", ck, NULL);
        keys[1] = apr_pstrcat(p, "mxhr:m:", ck, NULL);
    }
    return ck;
}

static void fill_info(mxhr_chan_info *info, apr_uint64_t epoch,
                      apr_uint64_t last, apr_uint64_t kept,
                      apr_uint64_t subs, apr_uint64_t rq, apr_uint64_t now)
{
    info->store = epoch;
    info->last_seq = last;
    info->messages = (apr_uint32_t)kept;
    info->subscribers = (apr_uint32_t)subs;
    /* As a time of this server's clock, from Redis's. */
    info->requested = rq ? apr_time_now() - (apr_time_t)(now - rq) : 0;
}

/* ---- Requests ---------------------------------------------------------- */

apr_status_t mxhr_redis_publish(request_rec *r, const char *vhost,
                                const char *name, int hist_max,
                                apr_interval_time_t hist_time,
                                const char *content_type, const char *event,
                                const char *body, apr_size_t len,
                                mxhr_chan_info *info, const char **why)
{
    const char *args[10];
    const char *ck = chan_key(r->pool, vhost, name, args);
    size_t lens[10];
    redisReply *rep;
    apr_status_t rv;
    int i;

    memset(info, 0, sizeof(*info));
    args[2] = apr_psprintf(r->pool, "%d", hist_max > 0 ? hist_max : 1);
    args[3] = apr_psprintf(r->pool, "%" APR_TIME_T_FMT, hist_time);
    args[4] = content_type;
    args[5] = event ? event : "";
    args[6] = body;
    args[7] = vhost;
    args[8] = name;
    args[9] = ck;
    for (i = 0; i < 10; i++) {
        lens[i] = i == 6 ? len : strlen(args[i]);
    }
    rep = request_eval(r, &s_publish, 2, 10, args, lens, why, &rv);
    if (!rep) {
        return rv;
    }
    fill_info(info, rnum(elem(rep, 0)), rnum(elem(rep, 1)),
              rnum(elem(rep, 2)), rnum(elem(rep, 3)), rnum(elem(rep, 4)),
              rnum(elem(rep, 5)));
    info->id = info->last_seq;
    freeReplyObject(rep);
    if (!info->store || !info->id) {
        *why = "Redis gave no id";
        return MXHR_REDIS_REFUSED;
    }
    apr_atomic_inc64(&mxhr_store_redis()->out);
    return APR_SUCCESS;
}

apr_status_t mxhr_redis_info(request_rec *r, const char *vhost,
                             const char *name, int forget,
                             mxhr_chan_info *info, const char **why)
{
    const char *args[6];
    redisReply *rep;
    apr_status_t rv;

    memset(info, 0, sizeof(*info));
    args[2] = chan_key(r->pool, vhost, name, args);
    args[3] = forget ? "1" : "0";
    args[4] = vhost;
    args[5] = name;
    rep = request_eval(r, &s_info, 2, 6, args, NULL, why, &rv);
    if (!rep) {
        return rv;
    }
    if (!rnum(elem(rep, 1))) {
        freeReplyObject(rep);
        return MXHR_STORE_NOTFOUND;
    }
    fill_info(info, rnum(elem(rep, 0)), rnum(elem(rep, 2)),
              rnum(elem(rep, 3)), rnum(elem(rep, 4)), rnum(elem(rep, 5)),
              rnum(elem(rep, 6)));
    freeReplyObject(rep);
    return APR_SUCCESS;
}

apr_status_t mxhr_redis_ready(request_rec *r, const char **why)
{
    redisReply *rep;
    apr_status_t rv;

    if (mxhr_store_id()) {
        return APR_SUCCESS;
    }
    {
        const char *args[2] = { "0", "0" };

        rep = request_eval(r, &s_hello, 0, 2, args, NULL, why, &rv);
    }
    if (!rep) {
        return rv;
    }
    mxhr_store_adopt(rnum(elem(rep, 0)), rnum(elem(rep, 1)));
    freeReplyObject(rep);
    return APR_SUCCESS;
}

/* Merges the channels' lists (each in id order) into one block. */
static mxhr_redis_backlog *backlog_from(const redisReply *rep, int n)
{
    apr_size_t bytes = 0, count = 0;
    int i, *at;
    mxhr_redis_backlog *b;
    char *p;

    for (i = 0; i < n; i++) {
        const redisReply *l = elem(rep, 3 + i);
        size_t j;

        if (!l || l->type != REDIS_REPLY_ARRAY || l->elements % 4) {
            return NULL;
        }
        for (j = 0; j < l->elements; j++) {
            if (l->element[j]->type != REDIS_REPLY_STRING) {
                return NULL;
            }
            bytes += l->element[j]->len + 1;
        }
        count += l->elements / 4;
    }
    b = malloc(sizeof(*b) + count * (sizeof(mxhr_msg) + sizeof(int))
               + n * sizeof(int) + bytes + 8);
    if (!b) {
        return NULL;
    }
    b->epoch = rnum(elem(rep, 0));
    b->seq = rnum(elem(rep, 1));
    b->lost = rnum(elem(rep, 2)) != 0;
    b->n = 0;
    b->msgs = (mxhr_msg *)(b + 1);
    b->chan = (int *)(b->msgs + count);
    at = b->chan + count;
    p = (char *)(at + n);
    memset(at, 0, n * sizeof(int));
    for (;;) {
        apr_uint64_t best = 0;
        int pick = -1;

        for (i = 0; i < n; i++) {
            const redisReply *l = elem(rep, 3 + i);

            if ((size_t)at[i] * 4 < l->elements) {
                apr_uint64_t id = rnum(l->element[at[i] * 4]);

                if (pick < 0 || id < best) {
                    best = id;
                    pick = i;
                }
            }
        }
        if (pick < 0) {
            break;
        }
        {
            const redisReply *l = elem(rep, 3 + pick);
            redisReply **e = l->element + at[pick] * 4;
            mxhr_msg *m = &b->msgs[b->n];

            m->seq = best;
            m->content_type = memcpy(p, e[1]->str, e[1]->len + 1);
            p += e[1]->len + 1;
            m->event = memcpy(p, e[2]->str, e[2]->len + 1);
            p += e[2]->len + 1;
            m->body = memcpy(p, e[3]->str, e[3]->len + 1);
            m->len = e[3]->len;
            p += e[3]->len + 1;
            b->chan[b->n++] = pick;
            at[pick]++;
        }
    }
    return b;
}

apr_status_t mxhr_redis_start(request_rec *r, const char *vhost,
                              const char **ids, const apr_uint32_t *counts,
                              int n, int mode, apr_uint64_t epoch,
                              apr_uint64_t seq, int replay,
                              mxhr_redis_backlog **out, const char **why)
{
    mxhr_redis_shared *sh = mxhr_store_redis();
    const char **args = apr_palloc(r->pool, (2 * n + 6 + 2 * n)
                                            * sizeof(*args));
    const char **cks = apr_palloc(r->pool, n * sizeof(*cks));
    redisReply *rep;
    apr_status_t rv;
    int i, k = 0;

    *out = NULL;
    for (i = 0; i < n; i++) {
        /* Each channel's key goes last, with its count. */
        cks[i] = chan_key(r->pool, vhost, ids[i], args + k);
        k += 2;
    }
    args[k++] = apr_itoa(r->pool, mode);
    args[k++] = apr_psprintf(r->pool, "%" APR_UINT64_T_FMT, epoch);
    args[k++] = apr_psprintf(r->pool, "%" APR_UINT64_T_FMT, seq);
    args[k++] = apr_itoa(r->pool, replay > 0 ? replay : 1);
    args[k++] = apr_psprintf(r->pool, "%" APR_UINT64_T_FMT,
                             sh ? sh->server_id : 0);
    args[k++] = apr_itoa(r->pool, BACKLOG_MAX);
    for (i = 0; i < n; i++) {
        args[k++] = cks[i];
        args[k++] = apr_psprintf(r->pool, "%u", counts[i]);
    }
    rep = request_eval(r, &s_start, 2 * n, k, args, NULL, why, &rv);
    if (!rep) {
        return rv;
    }
    *out = backlog_from(rep, n);
    freeReplyObject(rep);
    if (!*out) {
        *why = "Redis gave an answer that is not understood";
        return MXHR_REDIS_REFUSED;
    }
    return APR_SUCCESS;
}

/* ---- The reader: one per child ----------------------------------------- */

/* A field of a stream entry's flat field list. */
static const redisReply *field(const redisReply *f, const char *name)
{
    size_t i;

    for (i = 0; f && i + 1 < f->elements; i += 2) {
        if (f->element[i]->type == REDIS_REPLY_STRING
            && strcmp(f->element[i]->str, name) == 0) {
            return f->element[i + 1];
        }
    }
    return NULL;
}

static const char *fstr(const redisReply *f, const char *name)
{
    const redisReply *v = field(f, name);

    return v && v->type == REDIS_REPLY_STRING ? v->str : "";
}

/* Copies what XREAD gave into the store; 0 when Redis's epoch is not
 * the store's any more. */
static int mirror_entries(const redisReply *rep, apr_uint64_t epoch,
                          int *count)
{
    apr_size_t bytes = 0;
    const redisReply *entries = elem(elem(rep, 0), 1);
    mxhr_redis_shared *sh = mxhr_store_redis();
    size_t i;

    for (i = 0; entries && i < entries->elements; i++) {
        const redisReply *e = entries->element[i];
        const redisReply *f = elem(e, 1), *b;
        mxhr_mirror_msg m;
        int res;

        if (!elem(e, 0) || !f || f->type != REDIS_REPLY_ARRAY) {
            continue;
        }
        memset(&m, 0, sizeof(m));
        /* Written under the epoch of its time: one of another epoch
         * (a FLUSHDB, a Redis that lost its data) is not ours. */
        m.epoch = field(f, "x") ? rnum(field(f, "x")) : epoch;
        m.id = rnum(elem(e, 0));
        m.kind = strcmp(fstr(f, "y"), "d") == 0 ? MXHR_MIRROR_DELETE
                                                 : MXHR_MIRROR_MESSAGE;
        m.vhost = fstr(f, "v");
        m.name = fstr(f, "n");
        m.content_type = fstr(f, "c");
        m.event = *fstr(f, "e") ? fstr(f, "e") : NULL;
        b = field(f, "b");
        m.body = b && b->type == REDIS_REPLY_STRING ? b->str : "";
        m.len = b && b->type == REDIS_REPLY_STRING ? b->len : 0;
        m.hist_max = (int)rnum(field(f, "hm"));
        m.hist_time = (apr_interval_time_t)rnum(field(f, "ht"));
        /* Its age counts from now, by this server's clock: a Redis
         * whose clock is off must not expire what just came. */
        m.time = apr_time_now();
        bytes += m.len;
        res = mxhr_store_mirror(&m);
        if (res == MXHR_MIRROR_EPOCH) {
            return 0;
        }
        if (res == MXHR_MIRROR_GAP) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, rc.s, MXHR_LOGNO(084)
                         "publishes before %" APR_UINT64_T_FMT " were never "
                         "read by this server (it fell behind Redis's list "
                         "of the last " ALL_MAX "): streams that may have "
                         "missed them end and resume", m.id);
        }
        if (res != MXHR_MIRROR_SKIPPED) {
            apr_atomic_inc64(&sh->in);
        }
    }
    if (entries && entries->elements) {
        apr_size_t each = bytes / entries->elements + 1;

        *count = each * READ_COUNT > READ_BYTES
                 ? (int)(READ_BYTES / each) + 1 : READ_COUNT;
    }
    return 1;
}

static void count_arg(void *ctx, const char *vhost, const char *name,
                      apr_uint32_t n)
{
    apr_array_header_t *a = ctx;

    APR_ARRAY_PUSH(a, const char *) = chan_key(a->pool, vhost, name, NULL);
    APR_ARRAY_PUSH(a, const char *) = apr_psprintf(a->pool, "%u", n);
}

/* Tells Redis this server's subscriber counts when they changed (at
 * most every 200 ms) and that it is alive (every 3 s): publishes count
 * every live server's subscribers. One child does it at a time. */
static int write_counts(redisContext *c, apr_pool_t *p)
{
    mxhr_redis_shared *sh = mxhr_store_redis();
    apr_uint64_t now = (apr_uint64_t)apr_time_now();
    apr_uint64_t at = apr_atomic_read64(&sh->counts_at);
    apr_uint32_t changes = mxhr_store_sub_changes();
    apr_array_header_t *a;
    redisReply *rep;

    if (now - at < (changes != apr_atomic_read32(&sh->counts_changes)
                    ? apr_time_from_msec(200) : apr_time_from_sec(3))
        || apr_atomic_cas64(&sh->counts_at, now, at) != at) {
        return 1;
    }
    a = apr_array_make(p, 64, sizeof(const char *));
    APR_ARRAY_PUSH(a, const char *) = apr_psprintf(p, "%" APR_UINT64_T_FMT,
                                                   sh->server_id);
    if (mxhr_store_each_counted(count_arg, a, &changes) != APR_SUCCESS) {
        return 1;
    }
    rep = eval(c, &s_counts, 0, a->nelts, (const char **)a->elts, NULL,
               0);
    if (!rep) {
        /* Whichever child reads next writes them. */
        apr_atomic_set64(&sh->counts_at, 0);
        return 0;
    }
    if (rep->type != REDIS_REPLY_ERROR) {
        apr_atomic_set32(&sh->counts_changes, changes);
    }
    freeReplyObject(rep);
    return 1;
}

/* The reader's socket, for reader_stop(); -1 before it is closed. */
static void set_reader_fd(int fd)
{
    apr_thread_mutex_lock(rc.lock);
    rc.fd = fd;
    apr_thread_mutex_unlock(rc.lock);
}

/* Asks Redis for its epoch (telling it where this server is) and makes
 * it the store's: *epoch. 0 with why (in p) when Redis did not answer. */
static int sync_epoch(redisContext *c, apr_pool_t *p, apr_uint64_t *epoch,
                      const char **why)
{
    const char *args[2];
    redisReply *rep;

    args[0] = apr_psprintf(p, "%" APR_UINT64_T_FMT, mxhr_store_id());
    args[1] = apr_psprintf(p, "%" APR_UINT64_T_FMT, mxhr_store_last_seq());
    rep = eval(c, &s_hello, 0, 2, args, NULL, 0);
    if (!rep || rep->type != REDIS_REPLY_ARRAY) {
        *why = rep && rep->type == REDIS_REPLY_ERROR
               ? apr_pstrdup(p, rep->str) : "no answer";
        if (rep) {
            freeReplyObject(rep);
        }
        return 0;
    }
    *epoch = rnum(elem(rep, 0));
    if (mxhr_store_adopt(*epoch, rnum(elem(rep, 1)))) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, rc.s, MXHR_LOGNO(083)
                     "Redis has a new epoch (%" APR_UINT64_T_FMT "): it "
                     "lost its data, or is another Redis; streams end and "
                     "clients resuming are told their history is lost",
                     *epoch);
    }
    freeReplyObject(rep);
    return 1;
}

/* Sleeps after the reader's own failures, waking early when the child
 * stops: its own back-off (doubled by each of its failures, up to
 * BACKOFF_MAX), at a random point of its second half. The children's
 * readers fail together when Redis goes; spread out, one of them finds
 * Redis back soon after it is, not a whole back-off later. */
static void backoff_sleep(apr_interval_time_t *mine, unsigned int *seed)
{
    apr_time_t until;

    *mine = *mine ? *mine * 2 : BACKOFF_MIN;
    if (*mine > BACKOFF_MAX) {
        *mine = BACKOFF_MAX;
    }
    until = apr_time_now() + *mine / 2
            + (apr_interval_time_t)(rand_r(seed) % (*mine / 2 + 1));
    while (!rc.stop && apr_time_now() < until) {
        apr_sleep(apr_time_from_msec(50));
    }
}

static void *APR_THREAD_FUNC reader_main(apr_thread_t *thd, void *data)
{
    mxhr_redis_shared *sh = mxhr_store_redis();
    int connected_before = 0, count = READ_COUNT, quiet, moved;
    apr_time_t asked = 0;
    apr_interval_time_t mine = 0;
    unsigned int seed = (unsigned int)getpid() ^ (unsigned int)apr_time_now();
    apr_pool_t *p;
    sigset_t all;

    /* Signals are for the MPM's thread: a prefork child must see its
     * graceful stop there, not here. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    apr_pool_create(&p, NULL);
    while (!rc.stop) {
        const char *why = NULL;
        apr_uint64_t epoch;
        apr_pool_t *iter;
        redisContext *c;
        redisReply *rep;

        apr_pool_clear(p);
        c = rconnect(p, mxhr_config_redis_timeout(), &why);
        if (!c) {
            went_down(why);
            backoff_sleep(&mine, &seed);
            continue;
        }
        /* Reads block for READ_BLOCK; more than that is a failure. */
        redisSetTimeout(c, to_tv(apr_time_from_msec(READ_BLOCK)
                                 + mxhr_config_redis_timeout()));
        set_reader_fd(c->fd);
        if (connected_before++) {
            apr_atomic_inc64(&sh->reconnects);
        }
        rep = NULL;
        if (!sync_epoch(c, p, &epoch, &why)) {
            goto lost;
        }
        came_up();
        mine = 0;
        apr_pool_create(&iter, p);
        while (!rc.stop) {
            apr_pool_clear(iter);
            if (!write_counts(c, iter)) {
                why = "connection lost";
                goto lost;
            }
            rep = redisCommand(c, "XREAD COUNT %d BLOCK %d STREAMS mxhr:all "
                               "%" APR_UINT64_T_FMT "-0", count, READ_BLOCK,
                               mxhr_store_last_seq());
            if (!rep || rep->type == REDIS_REPLY_ERROR) {
                why = rep ? apr_pstrdup(p, rep->str)
                          : apr_pstrdup(p, c->errstr);
                goto lost;
            }
            came_up();
            quiet = rep->type == REDIS_REPLY_NIL;
            moved = !quiet && !mirror_entries(rep, epoch, &count);
            freeReplyObject(rep);
            rep = NULL;
            if (moved || mxhr_store_id() != epoch
                || (quiet && apr_time_now() - asked >= HELLO_EVERY)) {
                /* Quiet a while, or the epoch moved: is it still
                 * Redis's? (A Redis that restarted empty counts from 1
                 * again, so reads after our place find nothing.) */
                asked = apr_time_now();
                if (!sync_epoch(c, iter, &epoch, &why)) {
                    goto lost;
                }
            }
        }
        set_reader_fd(-1);
        redisFree(c);
        break;
lost:
        if (rep) {
            freeReplyObject(rep);
        }
        set_reader_fd(-1);
        redisFree(c);
        if (!rc.stop) {
            went_down(why ? why : "connection lost");
            backoff_sleep(&mine, &seed);
        }
    }
    apr_pool_destroy(p);
    /* Not apr_thread_exit(): its pool goes with rc.pool, after the
     * join. */
    return NULL;
}

/* Wakes the reader out of its blocking read and lets it go. Under the
 * lock: the reader's socket is not closed meanwhile (its number could
 * be another connection's by then). */
static void reader_stop(void)
{
    rc.stop = 1;
    apr_thread_mutex_lock(rc.lock);
    if (rc.fd >= 0) {
        shutdown(rc.fd, SHUT_RDWR);
    }
    apr_thread_mutex_unlock(rc.lock);
}

static apr_status_t redis_child_exit(void *data)
{
    apr_status_t rv;
    int i;

    reader_stop();
    if (rc.thread) {
        apr_thread_join(&rv, rc.thread);
        rc.thread = NULL;
    }
    if (rc.pool) {
        apr_pool_destroy(rc.pool);
        rc.pool = NULL;
    }
    for (i = 0; i < rc.n_idle; i++) {
        redisFree(rc.idle[i]);
    }
    rc.n_idle = 0;
    return APR_SUCCESS;
}

void mxhr_redis_child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_status_t rv;

    if (!mxhr_redis_enabled() || !mxhr_store_redis()) {
        return;
    }
    rc.s = s;
    rc.where = mxhr_config_redis()->path
               ? apr_pstrcat(pchild, "unix:", mxhr_config_redis()->path, NULL)
               : apr_psprintf(pchild, "%s:%d", mxhr_config_redis()->host,
                              mxhr_config_redis()->port);
    rc.stop = 0;
    rc.fd = -1;
    rc.n_idle = 0;
    /* Without its lock the child may not touch its connections: it
     * answers 503 instead (request_eval) and reads nothing. */
    rv = apr_thread_mutex_create(&rc.lock, APR_THREAD_MUTEX_DEFAULT, pchild);
    if (rv != APR_SUCCESS) {
        rc.lock = NULL;
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, MXHR_LOGNO(086)
                     "cannot create the lock of this child's Redis "
                     "connections: it answers 503 to channel requests and "
                     "delivers no channel messages");
        return;
    }
    /* The thread's pool is not under pchild: a prefork child's pool
     * has an allocator without a lock, and its subpools are gone before
     * its cleanups run. The thread stops before them (pre-cleanup). */
    apr_pool_create(&rc.pool, NULL);
    rv = apr_thread_create(&rc.thread, NULL, reader_main, NULL, rc.pool);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, MXHR_LOGNO(085)
                     "cannot start the thread that reads Redis; this child "
                     "delivers no channel messages");
        rc.thread = NULL;
        return;
    }
    apr_pool_pre_cleanup_register(pchild, NULL, redis_child_exit);
}

static void redis_child_stopping(apr_pool_t *pchild, int graceful)
{
    if (rc.thread) {
        reader_stop();
    }
}

void mxhr_redis_register_hooks(apr_pool_t *p)
{
    ap_hook_child_stopping(redis_child_stopping, NULL, NULL,
                           APR_HOOK_MIDDLE);
}
