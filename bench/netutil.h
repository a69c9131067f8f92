/*
 * netutil: what the benchmark clients (loadclient.c, chclient.c) share:
 * the clock, sockets to 127.0.0.1, and reading an HTTP response as it
 * comes (status, chunked framing). Compiled with each client:
 *   gcc -O2 -Wall -o loadclient bench/loadclient.c bench/netutil.c
 */
#ifndef NETUTIL_H
#define NETUTIL_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The wall clock, in microseconds since the epoch. */
int64_t now_us(void);

/* Raises the soft limit on descriptors to the hard one. */
void raise_nofile(void);

/* 127.0.0.1:port. */
struct sockaddr_in loopback_addr(int port);

/* With addrs > 1, binds fd to the source address 127.0.0.(1 + k % addrs),
 * the port left to connect. Returns bind's result (0 when addrs <= 1). */
int bind_source(int fd, int k, int addrs);

/* Starts a non-blocking connect of fd to sa and watches fd in ep for
 * EPOLLOUT | EPOLLIN with ptr. Returns -1 (fd closed) when it fails. */
int connect_watch(int fd, const struct sockaddr_in *sa, int ep, void *ptr);

/* Adds the header lines and the blank line to the request begun in
 * req[0..len); returns its new length. */
int request_end(char *req, size_t size, int len, char **headers, int nheaders);

/* Writes all n bytes to fd; -1 when it cannot. */
int write_all(int fd, const void *p, size_t n);

/* Reads n bytes from fd (retrying on EINTR); -1 when they do not come. */
int read_all(int fd, void *p, size_t n);

/* A response read as it comes. */
typedef struct {
    int state;              /* 0 response headers, 1 body */
    int chunked;
    int64_t chunk_left;     /* -1 size line, -2 CRLF after data, -3 end */
    char line[128];
    int line_len;
    int status;
    int type_ok;            /* Content-Type contains the type asked for */
} http_in;

/* Reads response-header bytes p[0..n) into h (status, chunked, and, with
 * want_type, type_ok). Returns where the body begins in p when the blank
 * line that ends the headers came in these bytes (h->state becomes 1),
 * -1 when the headers go on. */
ssize_t http_head(http_in *h, const char *p, size_t n, const char *want_type);

/* Takes the next piece of body data from *p[0..*n) (chunked framing
 * undone), moving *p and *n past what it used: returns the piece's
 * length with *data at it, 0 when none is left in these bytes. */
size_t http_body_next(http_in *h, const char **p, size_t *n, const char **data);

#endif
