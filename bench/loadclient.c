/*
 * loadclient: holds many multipart streams open on 127.0.0.1 and
 * measures them, cheaply (epoll, no per-part allocation).
 *
 *   loadclient -p PORT -u /path -n STREAMS [-r RATE] [-t HOLD_S]
 *              [-i INTERVAL_MS] [-P PROCS] [-H 'Header: v'] [-S]
 *              [-A ADDRS] [-s STUCK_PCT]
 *
 * Opens STREAMS connections at RATE per second, holds them HOLD_S
 * seconds after the last one opened, and reads every part whose body is
 * an epoch-ms time stamp (13 digits). For each part it records the gap
 * since the stream's previous part and its delay:
 *   delay = arrival - scheduled, where scheduled is the first stamp of
 *   the stream + k * interval (mod_mxhr: the server's own grid) or, with
 *   -S, the part's own stamp (a publisher's time: nchan).
 * Prints one line of key=value results. -P forks that many processes,
 * each holding STREAMS/PROCS, for more descriptors than one may have.
 * -A spreads the connections over the source addresses 127.0.0.1 to
 * 127.0.0.ADDRS (one address has fewer ephemeral ports than 50,000
 * streams need). -s makes STUCK_PCT percent of the streams stuck
 * readers: a small receive buffer and never a read after the request;
 * the statistics are the other streams'.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

#define HIST_MS 20000               /* 1 ms buckets up to 20 s */

typedef struct {
    uint64_t n;
    uint64_t b[HIST_MS + 1];        /* last bucket: 20 s or more */
    int64_t max;
} hist;

typedef struct {
    hist gap, delay;
    uint64_t parts, expected, streams_ok, refused, never, errors, stuck;
} results;

typedef struct {
    int fd;
    http_in in;             /* status, chunked framing */
    char hdr_tail[4];
    /* body scanner */
    uint32_t last4;         /* last 4 body bytes */
    int digits;             /* in a stamp being read, -1: not in one */
    int64_t stamp;
    int64_t first_stamp, first_at, last_at;
    uint64_t parts;
    int stuck;
} conn;

static int64_t now_ms(void)
{
    return now_us() / 1000;
}

static void hist_add(hist *h, int64_t ms)
{
    if (ms < 0) {
        ms = 0;
    }
    h->b[ms > HIST_MS ? HIST_MS : ms]++;
    h->n++;
    if (ms > h->max) {
        h->max = ms;
    }
}

static int64_t hist_pct(const hist *h, double p)
{
    uint64_t want = (uint64_t)(p * (double)h->n), seen = 0;
    int i;

    if (h->n == 0) {
        return -1;
    }
    for (i = 0; i <= HIST_MS; i++) {
        seen += h->b[i];
        if (seen > want) {
            return i;
        }
    }
    return HIST_MS;
}

static int stamp_relative;          /* -S: delay from the part's stamp */
static int interval_ms = 1000;
static int addrs = 1;               /* -A: source addresses */
static int stuck_pct;               /* -s: stuck readers, percent */

static void on_part(conn *c, results *R, int64_t at)
{
    int64_t scheduled;

    if (c->parts == 0) {
        c->first_stamp = c->stamp;
        c->first_at = at;
    }
    else {
        hist_add(&R->gap, at - c->last_at);
    }
    scheduled = stamp_relative ? c->stamp
                               : c->first_stamp + (int64_t)c->parts * interval_ms;
    /* With -S the first part is the newest stored message (nchan's
     * first_message newest), published before we came: not a delay. */
    if (!(stamp_relative && c->parts == 0)) {
        hist_add(&R->delay, at - scheduled);
    }
    c->last_at = at;
    c->parts++;
    R->parts++;
}

/* Body bytes (dechunked): a stamp is 13 digits right after the blank
 * line that ends a part's headers. */
static void body_bytes(conn *c, results *R, const char *p, size_t n, int64_t at)
{
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];

        if (c->digits >= 0) {
            if (ch >= '0' && ch <= '9' && c->digits < 19) {
                c->stamp = c->stamp * 10 + (ch - '0');
                c->digits++;
            }
            else {
                if (c->digits == 13) {
                    on_part(c, R, at);
                }
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

static void data_bytes(conn *c, results *R, const char *p, size_t n, int64_t at)
{
    const char *data;
    size_t k;

    while ((k = http_body_next(&c->in, &p, &n, &data)) > 0) {
        body_bytes(c, R, data, k, at);
    }
}

static void got_bytes(conn *c, results *R, const char *p, size_t n, int64_t at)
{
    ssize_t body;

    if (c->in.state == 1) {
        data_bytes(c, R, p, n, at);
        return;
    }
    /* Headers: find the status and Transfer-Encoding, up to CRLFCRLF. */
    body = http_head(&c->in, p, n, NULL);
    if (body >= 0) {
        if (c->in.status != 200) {
            R->refused++;
        }
        data_bytes(c, R, p + body, n - (size_t)body, at);
    }
}

static void run(int port, const char *path, int n, double rate, int hold_s,
                char **headers, int nheaders, results *R)
{
    int ep = epoll_create1(0);
    conn *cs = calloc(n, sizeof(conn));
    struct sockaddr_in sa = loopback_addr(port);
    char req[2048], buf[65536];
    int reqlen, opened = 0, i;
    int64_t start = now_ms(), end = -1;
    struct epoll_event evs[512];

    reqlen = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                      path);
    reqlen = request_end(req, sizeof(req), reqlen, headers, nheaders);

    for (;;) {
        int64_t t = now_ms();
        int k, ready;

        /* Open what the rate allows by now. */
        while (opened < n && opened < (int)((t - start) * rate / 1000.0) + 1) {
            conn *c = &cs[opened++];

            c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            c->digits = -1;
            if (c->fd < 0) {
                R->errors++;
                continue;
            }
            /* Evenly spread: stream i is stuck when the running share of
             * stuck ones steps up at i. */
            c->stuck = (opened - 1) * stuck_pct / 100 != opened * stuck_pct / 100;
            if (c->stuck) {
                int small = 1024;
                setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
                R->stuck++;
            }
            if (bind_source(c->fd, opened, addrs) < 0) {
                R->errors++;
                close(c->fd);
                c->fd = -1;
                continue;
            }
            if (connect_watch(c->fd, &sa, ep, c) < 0) {
                R->errors++;
                c->fd = -1;
                continue;
            }
        }
        if (opened == n && end < 0) {
            end = now_ms() + (int64_t)hold_s * 1000;
        }
        if (end >= 0 && t >= end) {
            break;
        }
        ready = epoll_wait(ep, evs, 512, 20);
        t = now_ms();
        for (k = 0; k < ready; k++) {
            conn *c = evs[k].data.ptr;

            if (evs[k].events & EPOLLOUT) {
                struct epoll_event ev;
                if (write(c->fd, req, reqlen) != reqlen) {
                    R->errors++;
                }
                if (c->stuck) {         /* never reads again */
                    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                    continue;
                }
                ev.events = EPOLLIN;
                ev.data.ptr = c;
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                continue;
            }
            for (;;) {
                ssize_t got = read(c->fd, buf, sizeof(buf));
                if (got > 0) {
                    got_bytes(c, R, buf, (size_t)got, t);
                    continue;
                }
                if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
                    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                    close(c->fd);
                    c->fd = -1;
                }
                break;
            }
        }
    }
    /* Tally: what each stream got against what it could have. */
    end = now_ms();
    for (i = 0; i < opened; i++) {
        conn *c = &cs[i];
        if (c->stuck) {
            /* not counted either way */
        }
        else if (c->parts == 0) {
            R->never++;
        }
        else {
            R->streams_ok++;
            R->expected += (uint64_t)((end - c->first_at) / interval_ms) + 1;
        }
        if (c->fd >= 0) {
            close(c->fd);
        }
    }
    free(cs);
    close(ep);
}

static void merge(results *a, const results *b)
{
    int i;

    for (i = 0; i <= HIST_MS; i++) {
        a->gap.b[i] += b->gap.b[i];
        a->delay.b[i] += b->delay.b[i];
    }
    a->gap.n += b->gap.n;
    a->delay.n += b->delay.n;
    if (b->gap.max > a->gap.max) a->gap.max = b->gap.max;
    if (b->delay.max > a->delay.max) a->delay.max = b->delay.max;
    a->parts += b->parts;
    a->expected += b->expected;
    a->streams_ok += b->streams_ok;
    a->refused += b->refused;
    a->never += b->never;
    a->errors += b->errors;
    a->stuck += b->stuck;
}

int main(int argc, char **argv)
{
    int port = 0, n = 100, hold = 10, procs = 1, opt, i, nheaders = 0;
    double rate = 500;
    const char *path = "/";
    char *headers[16];
    results *total = calloc(1, sizeof(results));

    while ((opt = getopt(argc, argv, "p:u:n:r:t:i:P:H:SA:s:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'u': path = optarg; break;
        case 'n': n = atoi(optarg); break;
        case 'r': rate = atof(optarg); break;
        case 't': hold = atoi(optarg); break;
        case 'i': interval_ms = atoi(optarg); break;
        case 'P': procs = atoi(optarg); break;
        case 'H': if (nheaders < 16) headers[nheaders++] = optarg; break;
        case 'S': stamp_relative = 1; break;
        case 'A': addrs = atoi(optarg); break;
        case 's': stuck_pct = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: %s -p PORT -u PATH -n STREAMS [-r RATE] "
                    "[-t HOLD_S] [-i INTERVAL_MS] [-P PROCS] [-H HDR] [-S] "
                    "[-A ADDRS] [-s STUCK_PCT]\n",
                    argv[0]);
            return 2;
        }
    }
    if (!port || n < 1 || procs < 1 || interval_ms < 1 || addrs < 1
        || addrs > 250 || stuck_pct < 0 || stuck_pct > 100) {
        fprintf(stderr, "loadclient: -p PORT and positive -n, -P, -i\n");
        return 2;
    }
    /* As many descriptors as allowed. */
    raise_nofile();
    if (procs == 1) {
        run(port, path, n, rate, hold, headers, nheaders, total);
    }
    else {
        int fds[64][2];
        if (procs > 64) procs = 64;
        for (i = 0; i < procs; i++) {
            int share = n / procs + (i < n % procs);
            if (pipe(fds[i]) < 0) { perror("pipe"); return 1; }
            if (fork() == 0) {
                results *r = calloc(1, sizeof(results));
                close(fds[i][0]);
                run(port, path, share, rate / procs, hold, headers, nheaders, r);
                _exit(write_all(fds[i][1], r, sizeof(*r)) < 0 ? 1 : 0);
            }
            close(fds[i][1]);
        }
        for (i = 0; i < procs; i++) {
            results *r = calloc(1, sizeof(results));
            if (read_all(fds[i][0], r, sizeof(*r)) == 0) merge(total, r);
            else total->errors++;
            free(r);
            close(fds[i][0]);
        }
        while (wait(NULL) > 0) {
        }
    }
    printf("streams=%d stuck=%llu ok=%llu never=%llu refused=%llu errors=%llu "
           "parts=%llu expected=%llu "
           "gap_p50=%lld gap_p99=%lld gap_max=%lld "
           "delay_p50=%lld delay_p99=%lld delay_max=%lld\n",
           n, (unsigned long long)total->stuck,
           (unsigned long long)total->streams_ok,
           (unsigned long long)total->never, (unsigned long long)total->refused,
           (unsigned long long)total->errors,
           (unsigned long long)total->parts, (unsigned long long)total->expected,
           (long long)hist_pct(&total->gap, 0.5), (long long)hist_pct(&total->gap, 0.99),
           (long long)total->gap.max,
           (long long)hist_pct(&total->delay, 0.5), (long long)hist_pct(&total->delay, 0.99),
           (long long)total->delay.max);
    return 0;
}
