/*
 * netutil: what the benchmark clients share (see netutil.h).
 */
#define _GNU_SOURCE
#include "netutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

struct sockaddr_in loopback_addr(int port)
{
    struct sockaddr_in sa;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sa;
}

int bind_source(int fd, int k, int addrs)
{
    struct sockaddr_in src;
    int one = 1;

    if (addrs <= 1) {
        return 0;
    }
    memset(&src, 0, sizeof(src));
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + (k % addrs));
    /* The port is chosen at connect, per address. */
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    return bind(fd, (struct sockaddr *)&src, sizeof(src));
}

int connect_watch(int fd, const struct sockaddr_in *sa, int ep, void *ptr)
{
    struct epoll_event ev;

    if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0
        && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    ev.events = EPOLLOUT | EPOLLIN;
    ev.data.ptr = ptr;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    return 0;
}

int request_end(char *req, size_t size, int len, char **headers, int nheaders)
{
    int i;

    for (i = 0; i < nheaders; i++) {
        len += snprintf(req + len, size - len, "%s\r\n", headers[i]);
    }
    len += snprintf(req + len, size - len, "\r\n");
    return len;
}

int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;

    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) {
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int read_all(int fd, void *buf, size_t n)
{
    char *p = buf;

    while (n > 0) {
        ssize_t got = read(fd, p, n);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            return -1;
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

ssize_t http_head(http_in *h, const char *p, size_t n, const char *want_type)
{
    size_t i;

    for (i = 0; i < n; i++) {
        char ch = p[i];

        if (h->line_len < (int)sizeof(h->line) - 1 && ch != '\r' && ch != '\n') {
            h->line[h->line_len++] = ch;
        }
        if (ch == '\n') {
            h->line[h->line_len] = '\0';
            if (h->status == 0) {
                sscanf(h->line, "HTTP/%*d.%*d %d", &h->status);
            }
            else if (strncasecmp(h->line, "transfer-encoding:", 18) == 0
                     && strcasestr(h->line, "chunked")) {
                h->chunked = 1;
            }
            else if (want_type && strncasecmp(h->line, "content-type:", 13) == 0) {
                h->type_ok = strcasestr(h->line + 13, want_type) != NULL;
            }
            if (h->line_len == 0) {         /* the blank line */
                h->state = 1;
                h->chunk_left = -1;
                return (ssize_t)(i + 1);
            }
            h->line_len = 0;
        }
    }
    return -1;
}

size_t http_body_next(http_in *h, const char **pp, size_t *np, const char **data)
{
    const char *p = *pp;
    size_t n = *np, k = 0;

    while (n > 0) {
        if (!h->chunked) {
            *data = p;
            k = n;
            p += n;
            n = 0;
            break;
        }
        if (h->chunk_left == -3) {          /* the end: ignore the rest */
            p += n;
            n = 0;
            break;
        }
        if (h->chunk_left > 0) {
            k = (size_t)h->chunk_left < n ? (size_t)h->chunk_left : n;
            *data = p;
            h->chunk_left -= (int64_t)k;
            p += k;
            n -= k;
            if (h->chunk_left == 0) {
                h->chunk_left = -2;
            }
            break;
        }
        if (h->chunk_left == -2) {          /* the CRLF after the data */
            if (*p == '\n') {
                h->chunk_left = -1;
            }
        }
        else if (*p == '\n') {              /* the end of a size line */
            h->line[h->line_len] = '\0';
            h->chunk_left = strtoll(h->line, NULL, 16);
            h->line_len = 0;
            if (h->chunk_left == 0) {
                h->chunk_left = -3;
            }
        }
        else if (h->line_len < (int)sizeof(h->line) - 1) {
            h->line[h->line_len++] = *p;
        }
        p++;
        n--;
    }
    *pp = p;
    *np = n;
    return k;
}
