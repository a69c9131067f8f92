/*
 * chclient: the channel benchmark's client, for bench/channels.sh.
 * Three modes, each printing one line of key=value results:
 *
 *   chclient sub  -p PORT -u /sub -n SUBS [-c CHANNELS] [-r RATE]
 *                 [-P PROCS] [-A ADDRS] [-H 'Header: v'] [-R READYFILE]
 *                 [-t MAX_S] [-f multipart|sse]
 *     Holds SUBS subscriptions, subscriber i on channel
 *     c<i % CHANNELS> (GET PATH?id=c<k>), opened at RATE per second.
 *     When every one has its response headers (or has failed) it creates
 *     READYFILE. It reads until SIGTERM (or MAX_S seconds), then prints.
 *     Every part whose body starts with a 16-digit stamp (epoch
 *     microseconds, put there by the publisher when it sent the POST)
 *     counts as a delivered message; its delay is the time at which the
 *     16th digit was parsed minus the stamp (one machine, one clock).
 *     Parts stamped before their subscription was asked for are counted
 *     apart (old=) and not in the delays. Other parts (heartbeats, empty
 *     bodies) are ignored.
 *     -f sse (server-sent events; send -H 'Accept: text/event-stream'):
 *     the body is parsed as text/event-stream instead, incrementally: the
 *     "data" lines of an event are joined with LF, the event ends at a
 *     blank line (CRLF, CR or LF end a line), and an event whose data
 *     starts with a 16-digit stamp is a delivered message, its delay
 *     taken when the blank line that ends it was parsed (when EventSource
 *     would dispatch it). Comments, events without data, and other
 *     fields (id, event, retry) are ignored.
 *     Either way the body may be chunked or not, and a 200 whose
 *     Content-Type is not the format asked for (multipart/... or
 *     text/event-stream) is counted as refused and badtype=, and closed.
 *
 *   chclient pub  -p PORT -u /pub -c CHANNELS -r RATE -d SECONDS
 *                 [-n SUBS] [-b BODY_BYTES] [-k MAX_CONNS]
 *     Open loop: publish k is due at start + k / RATE, to channel
 *     c<k % CHANNELS>, as a keep-alive HTTP/1.1 POST of BODY_BYTES (the
 *     stamp, then 'x's), on an idle connection (a new one if none is
 *     idle, up to MAX_CONNS). Publishes not sent by SECONDS + 1 (a server
 *     too slow to answer) are dropped and counted (unsent=); answers are
 *     awaited 3 s more at most. With -n it prints expected=, the
 *     deliveries the accepted publishes make to SUBS subscribers spread
 *     as above.
 *
 *   chclient loop -p PORT -u /pub -c CHANNELS -k CONNS -d SECONDS
 *                 [-n SUBS] [-b BODY_BYTES]
 *     Closed loop: CONNS keep-alive connections, each POSTing its next
 *     message as soon as the answer to the last has come, for SECONDS.
 *
 * Only 127.0.0.1 is contacted; -A spreads the subscribers' source
 * addresses over 127.0.0.1 to 127.0.0.ADDRS.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "netutil.h"

#define STAMP_DIGITS 16

/* Histogram of microseconds: 10 us buckets below 100 ms, 1 ms buckets
 * from there to 60 s, then one for everything above. */
#define H_FINE 10000
#define H_COARSE 59900
#define H_N (H_FINE + H_COARSE + 1)

typedef struct {
    uint64_t n;
    uint64_t b[H_N];
    int64_t max;
    double sum;
} hist;

static void hist_add(hist *h, int64_t us)
{
    int64_t i;

    if (us < 0) {
        us = 0;
    }
    i = us < 100000 ? us / 10 : H_FINE + (us - 100000) / 1000;
    h->b[i >= H_N ? H_N - 1 : i]++;
    h->n++;
    h->sum += (double)us;
    if (us > h->max) {
        h->max = us;
    }
}

/* The bucket's upper bound, in microseconds. */
static int64_t hist_pct(const hist *h, double p)
{
    uint64_t want = (uint64_t)(p * (double)h->n), seen = 0;
    int i;

    if (h->n == 0) {
        return -1;
    }
    for (i = 0; i < H_N; i++) {
        seen += h->b[i];
        if (seen > want) {
            int64_t up = i < H_FINE ? (int64_t)(i + 1) * 10
                                    : 100000 + (int64_t)(i - H_FINE + 1) * 1000;
            return up < h->max ? up : h->max;
        }
    }
    return h->max;
}

static void hist_merge(hist *a, const hist *b)
{
    int i;

    for (i = 0; i < H_N; i++) {
        a->b[i] += b->b[i];
    }
    a->n += b->n;
    a->sum += b->sum;
    if (b->max > a->max) {
        a->max = b->max;
    }
}

static volatile sig_atomic_t stopping;
static pid_t kids[64];
static int nkids;

static void on_term(int sig)
{
    int i;

    (void)sig;
    stopping = 1;
    for (i = 0; i < nkids; i++) {
        kill(kids[i], SIGTERM);
    }
}

/* ---------------------------------------------------------------- sub */

typedef struct {
    hist delay;
    uint64_t subs, ok, refused, failed, ended, parts, old, errors, badtype;
    int64_t ready_ms;
} sresults;

typedef struct {
    int fd;
    http_in in;             /* status, chunked framing, Content-Type */
    uint32_t last4;         /* the last 4 body bytes */
    int digits;             /* digits of a stamp read so far, -1: none */
    int64_t stamp;
    int64_t asked_at;       /* when the request was written */
    int done;               /* headers received, or failed */
    /* -f sse: the event-stream parser */
    int sse_state;          /* S_* below */
    int fmatch;             /* chars of the field name that match "data",
                             * -1: another field */
    int last_cr;            /* the last byte was a CR: skip an LF */
    int ev_data;            /* data lines in this event so far */
    int head_len;
    char head[STAMP_DIGITS]; /* the first bytes of the event's data */
} sconn;

enum { S_START, S_NAME, S_DATA_SP, S_DATA, S_SKIP };

static int sse;             /* -f sse */

static int port;
static const char *path = "/";
static int channels = 1;
static int addrs = 1;
static char *headers[16];
static int nheaders;
static const char *ready_path;
static int ready_fd = -1;

static void mark_ready(void)
{
    if (ready_fd >= 0) {
        char c = 'r';
        if (write(ready_fd, &c, 1) != 1) {
            /* the parent is gone: nothing to tell */
        }
    }
    else if (ready_path) {
        FILE *f = fopen(ready_path, "w");
        if (f) {
            fclose(f);
        }
    }
}

static void on_stamp(sconn *c, sresults *R)
{
    int64_t at = now_us();

    if (c->stamp < c->asked_at) {
        R->old++;
        return;
    }
    R->parts++;
    hist_add(&R->delay, at - c->stamp);
}

/* -f sse: a data line begins: the lines are joined with LF. */
static void sse_data_line(sconn *c)
{
    if (c->ev_data++ > 0 && c->head_len < STAMP_DIGITS) {
        c->head[c->head_len++] = '\n';
    }
}

/* -f sse: a blank line ends the event. */
static void sse_dispatch(sconn *c, sresults *R)
{
    int k;

    if (c->ev_data > 0 && c->head_len == STAMP_DIGITS) {
        c->stamp = 0;
        for (k = 0; k < STAMP_DIGITS; k++) {
            if (c->head[k] < '0' || c->head[k] > '9') {
                break;
            }
            c->stamp = c->stamp * 10 + (c->head[k] - '0');
        }
        if (k == STAMP_DIGITS) {
            on_stamp(c, R);
        }
    }
    c->ev_data = 0;
    c->head_len = 0;
}

/* -f sse: body bytes (dechunked) as text/event-stream. */
static void sse_bytes(sconn *c, sresults *R, const char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        char ch = p[i];

        if (c->last_cr) {
            c->last_cr = 0;
            if (ch == '\n') {
                continue;           /* CRLF: one line end */
            }
        }
        if (ch == '\r' || ch == '\n') {
            c->last_cr = ch == '\r';
            if (c->sse_state == S_START) {
                sse_dispatch(c, R);
            }
            else if (c->sse_state == S_NAME && c->fmatch == 4) {
                sse_data_line(c);   /* "data" alone: an empty data line */
            }
            c->sse_state = S_START;
            continue;
        }
        switch (c->sse_state) {
        case S_START:
            if (ch == ':') {
                c->sse_state = S_SKIP;          /* a comment */
                break;
            }
            c->sse_state = S_NAME;
            c->fmatch = 0;
            /* fall through */
        case S_NAME:
            if (ch == ':') {
                if (c->fmatch == 4) {
                    sse_data_line(c);
                    c->sse_state = S_DATA_SP;
                }
                else {
                    c->sse_state = S_SKIP;
                }
            }
            else if (c->fmatch >= 0 && c->fmatch < 4 && ch == "data"[c->fmatch]) {
                c->fmatch++;
            }
            else {
                c->fmatch = -1;
            }
            break;
        case S_DATA_SP:
            c->sse_state = S_DATA;
            if (ch == ' ') {
                break;              /* one space after the colon goes */
            }
            /* fall through */
        case S_DATA:
            if (c->head_len < STAMP_DIGITS) {
                c->head[c->head_len++] = ch;
            }
            break;
        default:
            break;
        }
    }
}

/* Body bytes (dechunked): a stamp is 16 digits right after the blank
 * line that ends a part's headers; the 16th digit completes it. */
static void body_bytes(sconn *c, sresults *R, const char *p, size_t n)
{
    size_t i;

    if (sse) {
        sse_bytes(c, R, p, n);
        return;
    }
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];

        if (c->digits >= 0) {
            if (ch >= '0' && ch <= '9') {
                c->stamp = c->stamp * 10 + (ch - '0');
                if (++c->digits == STAMP_DIGITS) {
                    on_stamp(c, R);
                    c->digits = -1;
                }
            }
            else {
                c->digits = -1;
            }
        }
        c->last4 = (c->last4 << 8) | ch;
        if (c->last4 == 0x0d0a0d0a) {      /* CRLF CRLF */
            c->digits = 0;
            c->stamp = 0;
        }
    }
}

static void data_bytes(sconn *c, sresults *R, const char *p, size_t n)
{
    const char *data;
    size_t k;

    while ((k = http_body_next(&c->in, &p, &n, &data)) > 0) {
        body_bytes(c, R, data, k);
    }
}

/* Returns 1 when the response headers ended in these bytes. */
static int got_bytes(sconn *c, sresults *R, const char *p, size_t n)
{
    ssize_t body;

    if (c->in.state == 1) {
        data_bytes(c, R, p, n);
        return 0;
    }
    body = http_head(&c->in, p, n, sse ? "text/event-stream" : "multipart/");
    if (body < 0) {
        return 0;
    }
    data_bytes(c, R, p + body, n - (size_t)body);
    return 1;
}

/* Subscribers first..first+n-1 (global numbers: channel and source
 * address follow them). */
static void sub_run(int first, int n, double rate, int max_s, sresults *R)
{
    int ep = epoll_create1(0);
    sconn *cs = calloc(n, sizeof(sconn));
    struct sockaddr_in sa = loopback_addr(port);
    char buf[65536];
    int opened = 0, done = 0, ready = 0;
    int64_t start = now_us(), deadline = start + (int64_t)max_s * 1000000;
    struct epoll_event evs[512];

    R->subs = n;
    while (!stopping && now_us() < deadline) {
        int64_t t = now_us();
        int k, got;

        while (opened < n && opened < (int)((t - start) * rate / 1e6) + 1) {
            sconn *c = &cs[opened++];

            c->digits = -1;
            c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            if (c->fd < 0) {
                R->errors++;
                c->done = 1;
                done++;
                continue;
            }
            if (bind_source(c->fd, first + opened - 1, addrs) < 0) {
                perror("chclient: bind");
            }
            if (connect_watch(c->fd, &sa, ep, c) < 0) {
                R->errors++;
                c->fd = -1;
                c->done = 1;
                done++;
                continue;
            }
        }
        if (!ready && opened == n && done == n) {
            ready = 1;
            R->ready_ms = (now_us() - start) / 1000;
            mark_ready();
        }
        got = epoll_wait(ep, evs, 512, 20);
        for (k = 0; k < got; k++) {
            sconn *c = evs[k].data.ptr;

            if (c->fd < 0) {
                continue;
            }
            if ((evs[k].events & EPOLLOUT) && c->asked_at == 0) {
                struct epoll_event ev;
                char req[1024];
                int len, idx = first + (int)(c - cs);

                len = snprintf(req, sizeof(req),
                               "GET %s?id=c%d HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                               path, idx % channels);
                len = request_end(req, sizeof(req), len, headers, nheaders);
                c->asked_at = now_us();
                if (write(c->fd, req, len) != len) {
                    R->errors++;
                }
                ev.events = EPOLLIN;
                ev.data.ptr = c;
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                continue;
            }
            for (;;) {
                ssize_t r = read(c->fd, buf, sizeof(buf));

                if (r > 0) {
                    if (got_bytes(c, R, buf, (size_t)r)) {
                        c->done = 1;
                        done++;
                        if (c->in.status == 200 && c->in.type_ok) {
                            R->ok++;
                        }
                        else {
                            R->refused++;
                            if (c->in.status == 200) {
                                /* not the format asked for: not held */
                                R->badtype++;
                                if (R->badtype <= 3) {
                                    fprintf(stderr, "chclient: a subscription "
                                            "answered another Content-Type "
                                            "than %s\n", sse ? "text/event-stream"
                                                             : "multipart/...");
                                }
                                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                                close(c->fd);
                                c->fd = -1;
                                break;
                            }
                        }
                    }
                    continue;
                }
                if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                    close(c->fd);
                    c->fd = -1;
                    if (!c->done) {
                        c->done = 1;
                        done++;
                        R->failed++;
                    }
                    else if (c->in.status == 200) {
                        R->ended++;     /* the server ended the stream */
                    }
                }
                break;
            }
        }
    }
    if (!ready) {
        R->ready_ms = -1;
        mark_ready();       /* let the script go on; ok= tells */
    }
    for (int i = 0; i < opened; i++) {
        if (cs[i].fd >= 0) {
            close(cs[i].fd);
        }
    }
    free(cs);
    close(ep);
}

static void sresults_merge(sresults *a, const sresults *b)
{
    hist_merge(&a->delay, &b->delay);
    a->subs += b->subs;
    a->ok += b->ok;
    a->refused += b->refused;
    a->failed += b->failed;
    a->ended += b->ended;
    a->parts += b->parts;
    a->old += b->old;
    a->errors += b->errors;
    a->badtype += b->badtype;
    if (b->ready_ms < 0 || a->ready_ms < 0) {
        a->ready_ms = -1;
    }
    else if (b->ready_ms > a->ready_ms) {
        a->ready_ms = b->ready_ms;
    }
}

static int sub_main(int n, double rate, int procs, int max_s)
{
    sresults *total = calloc(1, sizeof(sresults));
    struct sigaction sa;
    int i;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_term;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    if (procs <= 1) {
        sub_run(0, n, rate, max_s, total);
    }
    else {
        int fds[64][2], ready[2], first = 0;

        if (procs > 64) {
            procs = 64;
        }
        if (pipe(ready) < 0) {
            perror("pipe");
            return 1;
        }
        for (i = 0; i < procs; i++) {
            int share = n / procs + (i < n % procs);
            pid_t pid;

            if (pipe(fds[i]) < 0) {
                perror("pipe");
                return 1;
            }
            pid = fork();
            if (pid == 0) {
                sresults *r = calloc(1, sizeof(sresults));

                nkids = 0;
                close(fds[i][0]);
                close(ready[0]);
                ready_fd = ready[1];
                sub_run(first, share, rate * share / n, max_s, r);
                _exit(write_all(fds[i][1], r, sizeof(*r)) < 0 ? 1 : 0);
            }
            kids[nkids++] = pid;
            close(fds[i][1]);
            first += share;
        }
        close(ready[1]);
        /* Every child says once that it is ready (or gave up). */
        for (i = 0; i < procs;) {
            char c;
            ssize_t r = read(ready[0], &c, 1);
            if (r == 1) {
                i++;
            }
            else if (r == 0 || (r < 0 && errno != EINTR)) {
                break;
            }
        }
        if (ready_path) {
            FILE *f = fopen(ready_path, "w");
            if (f) {
                fclose(f);
            }
        }
        total->ready_ms = 0;
        for (i = 0; i < procs; i++) {
            sresults *r = calloc(1, sizeof(sresults));

            if (read_all(fds[i][0], r, sizeof(*r)) == 0) {
                sresults_merge(total, r);
            }
            else {
                total->errors++;
            }
            free(r);
            close(fds[i][0]);
        }
        while (wait(NULL) > 0 || errno == EINTR) {
        }
    }
    printf("subs=%llu ok=%llu refused=%llu failed=%llu ended=%llu errors=%llu "
           "badtype=%llu ready_ms=%lld parts=%llu old=%llu "
           "d_p50=%lld d_p90=%lld d_p99=%lld d_max=%lld d_mean=%.0f\n",
           (unsigned long long)total->subs, (unsigned long long)total->ok,
           (unsigned long long)total->refused, (unsigned long long)total->failed,
           (unsigned long long)total->ended, (unsigned long long)total->errors,
           (unsigned long long)total->badtype,
           (long long)total->ready_ms,
           (unsigned long long)total->parts, (unsigned long long)total->old,
           (long long)hist_pct(&total->delay, 0.5),
           (long long)hist_pct(&total->delay, 0.9),
           (long long)hist_pct(&total->delay, 0.99),
           (long long)(total->delay.n ? total->delay.max : -1),
           total->delay.n ? total->delay.sum / (double)total->delay.n : -1.0);
    return 0;
}

/* ---------------------------------------------------------- pub, loop */

typedef struct {
    int fd;
    int busy;               /* a request is out */
    int ch;                 /* the channel of the request out */
    int64_t sent_at;
    char buf[8192];
    int len;
} pconn;

typedef struct {
    hist rtt, lag;
    uint64_t sent, ok, s201, s202, other, errors, conns, expected, late;
    uint64_t unsent;        /* pub: not sent within SECONDS + 1 */
} presults;

static int subs_total;      /* -n: to compute expected deliveries */
static int body_bytes_n = 64;

static int subs_on(int ch)
{
    return subs_total / channels + (ch < subs_total % channels);
}

static int pconn_open(pconn *c, int ep, presults *R)
{
    struct sockaddr_in sa = loopback_addr(port);
    struct epoll_event ev;
    int one = 1;

    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0) {
        R->errors++;
        return -1;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* Blocking: on 127.0.0.1 it is immediate, and it keeps this simple. */
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        R->errors++;
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    c->busy = 0;
    c->len = 0;
    ev.events = EPOLLIN;
    ev.data.ptr = c;
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    R->conns++;
    return 0;
}

static void pconn_close(pconn *c, int ep)
{
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->busy = 0;
    c->len = 0;
}

static int pconn_send(pconn *c, int ep, int k, presults *R)
{
    char req[4096], body[2048];
    int len, blen = body_bytes_n, ch = k % channels;
    int64_t t;

    if (c->fd < 0 && pconn_open(c, ep, R) < 0) {
        return -1;
    }
    if (blen < STAMP_DIGITS) {
        blen = STAMP_DIGITS;
    }
    if (blen > (int)sizeof(body)) {
        blen = sizeof(body);
    }
    memset(body, 'x', blen);
    t = now_us();
    snprintf(body, sizeof(body), "%016lld", (long long)t);
    body[STAMP_DIGITS] = blen > STAMP_DIGITS ? 'x' : '\0';
    len = snprintf(req, sizeof(req),
                   "POST %s?id=c%d HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n",
                   path, ch, blen);
    memcpy(req + len, body, blen);
    len += blen;
    if (write(c->fd, req, len) != len) {
        R->errors++;
        pconn_close(c, ep);
        return -1;
    }
    c->busy = 1;
    c->sent_at = t;
    c->len = 0;
    c->ch = ch;
    R->sent++;
    return 0;
}

/* Is a whole response in c->buf? Returns its length, 0 if not yet, -1 if
 * it cannot be parsed. Sets *status and *close. */
static int response_complete(pconn *c, int *status, int *closing)
{
    char *end, *h, *p;
    int hlen;
    long long clen = -1;
    int chunked = 0;

    c->buf[c->len] = '\0';
    end = strstr(c->buf, "\r\n\r\n");
    if (!end) {
        return c->len >= (int)sizeof(c->buf) - 64 ? -1 : 0;
    }
    hlen = (int)(end - c->buf) + 4;
    *status = 0;
    *closing = 0;
    sscanf(c->buf, "HTTP/%*d.%*d %d", status);
    for (h = strstr(c->buf, "\r\n"); h && h < end; h = strstr(h + 2, "\r\n")) {
        p = h + 2;
        if (strncasecmp(p, "content-length:", 15) == 0) {
            clen = atoll(p + 15);
        }
        else if (strncasecmp(p, "transfer-encoding:", 18) == 0) {
            chunked = strncasecmp(p + 18 + strspn(p + 18, " "), "chunked", 7) == 0;
        }
        else if (strncasecmp(p, "connection:", 11) == 0
                 && strncasecmp(p + 11 + strspn(p + 11, " "), "close", 5) == 0) {
            *closing = 1;
        }
    }
    if (chunked) {
        int at = hlen;
        for (;;) {
            char *nl;
            long size;

            if (at >= c->len) {
                return 0;
            }
            nl = memchr(c->buf + at, '\n', c->len - at);
            if (!nl) {
                return 0;
            }
            size = strtol(c->buf + at, NULL, 16);
            at = (int)(nl - c->buf) + 1;
            if (size == 0) {
                /* no trailers: the final CRLF */
                return c->len >= at + 2 ? at + 2 : 0;
            }
            at += (int)size + 2;
        }
    }
    if (clen < 0) {
        clen = (*status == 204 || *status == 304) ? 0 : -1;
    }
    if (clen < 0) {
        *closing = 1;       /* close-delimited: not expected here */
        return -1;
    }
    return c->len >= hlen + clen ? (int)(hlen + clen) : 0;
}

/* Reads what came on c; returns 1 when a response was completed. */
static int pconn_read(pconn *c, int ep, presults *R)
{
    for (;;) {
        ssize_t r = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
        int status, closing, used;

        if (r > 0) {
            c->len += (int)r;
            if (c->len >= (int)sizeof(c->buf) - 1) {
                R->errors++;
                pconn_close(c, ep);
                return 0;
            }
            used = response_complete(c, &status, &closing);
            if (used == 0) {
                continue;
            }
            if (used < 0) {
                R->errors++;
                pconn_close(c, ep);
                return 0;
            }
            hist_add(&R->rtt, now_us() - c->sent_at);
            if (status == 201 || status == 202) {
                R->ok++;
                if (status == 201) {
                    R->s201++;
                }
                else {
                    R->s202++;
                }
                if (subs_total > 0) {
                    R->expected += (uint64_t)subs_on(c->ch);
                }
            }
            else {
                R->other++;
                if (R->other <= 3) {
                    fprintf(stderr, "chclient: publish answered %d\n", status);
                }
            }
            c->busy = 0;
            c->len = 0;
            if (closing) {
                pconn_close(c, ep);
            }
            return 1;
        }
        if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
            if (c->busy) {
                R->errors++;
            }
            pconn_close(c, ep);
        }
        return 0;
    }
}

static void presults_print(presults *R, int64_t elapsed_us)
{
    printf("pubs_sent=%llu pubs_ok=%llu s201=%llu s202=%llu other=%llu "
           "pub_errors=%llu conns=%llu late=%llu unsent=%llu pub_ms=%lld "
           "expected=%llu rtt_p50=%lld rtt_p99=%lld rtt_max=%lld lag_p99=%lld\n",
           (unsigned long long)R->sent, (unsigned long long)R->ok,
           (unsigned long long)R->s201, (unsigned long long)R->s202,
           (unsigned long long)R->other, (unsigned long long)R->errors,
           (unsigned long long)R->conns, (unsigned long long)R->late,
           (unsigned long long)R->unsent,
           (long long)(elapsed_us / 1000), (unsigned long long)R->expected,
           (long long)hist_pct(&R->rtt, 0.5), (long long)hist_pct(&R->rtt, 0.99),
           (long long)(R->rtt.n ? R->rtt.max : -1),
           (long long)hist_pct(&R->lag, 0.99));
}

static int pub_main(double rate, int seconds, int max_conns)
{
    presults *R = calloc(1, sizeof(presults));
    pconn *cs = calloc(max_conns, sizeof(pconn));
    int ep = epoll_create1(0), nconns = 0, i;
    int total = (int)(rate * seconds + 0.5), k = 0;
    int64_t start, t, drain_until = -1;
    struct epoll_event evs[64];

    for (i = 0; i < max_conns; i++) {
        cs[i].fd = -1;
    }
    if (pconn_open(&cs[nconns++], ep, R) < 0) {
        fprintf(stderr, "chclient: cannot connect to port %d\n", port);
        return 1;
    }
    start = now_us();
    while (!stopping) {
        int64_t wait_us, due;
        struct timespec ts;
        int got;

        t = now_us();
        /* A server that answers too slowly does not stretch the run:
         * what could not go out within a second of the end is dropped. */
        if (k < total && t > start + (int64_t)seconds * 1000000 + 1000000) {
            R->unsent = (uint64_t)(total - k);
            k = total;
        }
        /* Send what is due, on idle connections. */
        while (k < total && (due = start + (int64_t)(k * 1e6 / rate)) <= t) {
            pconn *c = NULL;

            for (i = 0; i < nconns; i++) {
                if (!cs[i].busy) {
                    c = &cs[i];
                    break;
                }
            }
            if (!c && nconns < max_conns) {
                c = &cs[nconns++];
            }
            if (!c) {
                break;          /* all busy: it goes out late */
            }
            if (pconn_send(c, ep, k, R) == 0) {
                hist_add(&R->lag, now_us() - due);
                if (now_us() - due > 10000) {
                    R->late++;
                }
            }
            k++;
            t = now_us();
        }
        if (k >= total) {
            int out = 0;
            for (i = 0; i < nconns; i++) {
                out += cs[i].busy;
            }
            if (drain_until < 0) {
                drain_until = t + 3000000;
            }
            if (out == 0 || t > drain_until) {
                break;
            }
        }
        due = k < total ? start + (int64_t)(k * 1e6 / rate) : t + 20000;
        wait_us = due - now_us();
        if (wait_us < 0) {
            wait_us = 0;
        }
        if (wait_us > 20000) {
            wait_us = 20000;
        }
        ts.tv_sec = 0;
        ts.tv_nsec = wait_us * 1000;
        got = epoll_pwait2(ep, evs, 64, &ts, NULL);
        for (i = 0; i < got; i++) {
            pconn_read(evs[i].data.ptr, ep, R);
        }
    }
    presults_print(R, now_us() - start);
    return 0;
}

static int loop_main(int conns, int seconds)
{
    presults *R = calloc(1, sizeof(presults));
    pconn *cs = calloc(conns, sizeof(pconn));
    int ep = epoll_create1(0), i, k = 0;
    int64_t start, end, t;
    struct epoll_event evs[64];

    for (i = 0; i < conns; i++) {
        cs[i].fd = -1;
        if (pconn_open(&cs[i], ep, R) < 0) {
            fprintf(stderr, "chclient: cannot connect to port %d\n", port);
            return 1;
        }
    }
    start = now_us();
    end = start + (int64_t)seconds * 1000000;
    for (i = 0; i < conns; i++) {
        pconn_send(&cs[i], ep, k++, R);
    }
    for (;;) {
        int got, out = 0;

        t = now_us();
        for (i = 0; i < conns; i++) {
            if (!cs[i].busy && t < end && !stopping) {
                pconn_send(&cs[i], ep, k++, R);
            }
            out += cs[i].busy;
        }
        if (out == 0 || t > end + 3000000) {
            break;
        }
        got = epoll_wait(ep, evs, 64, 20);
        for (i = 0; i < got; i++) {
            pconn *c = evs[i].data.ptr;
            if (pconn_read(c, ep, R) && now_us() < end && !stopping) {
                pconn_send(c, ep, k++, R);
            }
        }
    }
    /* Publishes per second: the answered ones over the time they took. */
    presults_print(R, now_us() - start);
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode;
    int n = 100, procs = 1, max_s = 600, seconds = 10, conns = 8, opt;
    double rate = 1;

    if (argc < 2) {
        fprintf(stderr, "usage: chclient sub|pub|loop [options] (see the source)\n");
        return 2;
    }
    mode = argv[1];
    optind = 2;
    while ((opt = getopt(argc, argv, "p:u:n:c:r:P:A:H:R:t:d:b:k:f:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'u': path = optarg; break;
        case 'n': n = atoi(optarg); subs_total = n; break;
        case 'c': channels = atoi(optarg); break;
        case 'r': rate = atof(optarg); break;
        case 'P': procs = atoi(optarg); break;
        case 'A': addrs = atoi(optarg); break;
        case 'H': if (nheaders < 16) headers[nheaders++] = optarg; break;
        case 'R': ready_path = optarg; break;
        case 't': max_s = atoi(optarg); break;
        case 'd': seconds = atoi(optarg); break;
        case 'b': body_bytes_n = atoi(optarg); break;
        case 'k': conns = atoi(optarg); break;
        case 'f':
            if (strcmp(optarg, "sse") == 0) {
                sse = 1;
            }
            else if (strcmp(optarg, "multipart") != 0) {
                fprintf(stderr, "chclient: -f multipart|sse\n");
                return 2;
            }
            break;
        default: return 2;
        }
    }
    if (!port || channels < 1 || rate <= 0 || addrs < 1 || addrs > 250
        || conns < 1 || seconds < 1) {
        fprintf(stderr, "chclient: bad arguments\n");
        return 2;
    }
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    if (strcmp(mode, "sub") == 0) {
        if (n < 1 || procs < 1) {
            return 2;
        }
        return sub_main(n, rate, procs, max_s);
    }
    if (strcmp(mode, "pub") == 0) {
        return pub_main(rate, seconds, conns);
    }
    if (strcmp(mode, "loop") == 0) {
        return loop_main(conns, seconds);
    }
    fprintf(stderr, "chclient: unknown mode %s\n", mode);
    return 2;
}
