/* mod_mxhr: directives, per-directory and per-server configuration. */
#ifndef MXHR_CONFIG_H
#define MXHR_CONFIG_H

#include "httpd.h"
#include "http_config.h"
#include "ap_expr.h"

#include "mxhr_frame.h"
#include "mxhr_redis_url.h"

/* Every field starts "unset" so that merge can tell unset from 0. */
#define MXHR_UNSET (-1)

typedef enum {
    MXHR_FORMAT_AUTO = 0,
    MXHR_FORMAT_MIXED_REPLACE,
    MXHR_FORMAT_MIXED,
    MXHR_FORMAT_SSE                  /* text/event-stream */
} mxhr_format;

#define MXHR_DEFAULT_INTERVAL      apr_time_from_sec(5)
#define MXHR_DEFAULT_CONTENT_TYPE  "text/plain; charset=utf-8"
#define MXHR_DEFAULT_TIME_FORMAT   "%H:%M:%S.%L"
#define MXHR_DEFAULT_MIN_INTERVAL  apr_time_from_msec(100)
/* What a stream's client may leave unread before it is dropped. */
#define MXHR_DEFAULT_SEND_BUFFER   (64 * 1024)
#define MXHR_SEND_BUFFER_MIN       1024
#define MXHR_SEND_BUFFER_MAX       (64 * 1024 * 1024)
/* Channels */
#define MXHR_DEFAULT_HISTORY       100
#define MXHR_HISTORY_MAX           100000
#define MXHR_DEFAULT_HISTORY_TIME  apr_time_from_sec(3600)
#define MXHR_REPLAY_MAX            100000
#define MXHR_DEFAULT_HEARTBEAT     apr_time_from_sec(30)
#define MXHR_DEFAULT_MESSAGE_MAX   (64 * 1024)
#define MXHR_DEFAULT_MESSAGE_LIMIT (16 * 1024 * 1024)
#define MXHR_MESSAGE_MAX_MAX       APR_INT64_C(1073741824)
#define MXHR_DEFAULT_STORE_SIZE    (32 * 1024 * 1024)
#define MXHR_STORE_SIZE_MIN        (1024 * 1024)
#define MXHR_STORE_SIZE_MAX        APR_INT64_C(68719476736)
#define MXHR_DEFAULT_REDIS_TIMEOUT apr_time_from_sec(2)
/* The most a .htaccess may ask for (MxhrHistoryCeiling). */
#define MXHR_DEFAULT_HISTORY_CEILING      1000
#define MXHR_DEFAULT_HISTORY_TIME_CEILING apr_time_from_sec(3600)

typedef struct {
    const char *dir;                 /* where it was set, for the log */
    const char *boundary;            /* NULL: random per response */
    apr_interval_time_t interval;
    const char *content_type;
    const char *time_format;
    int time_kind;                   /* mxhr_time_kind */
    apr_int64_t max_sections;        /* 0: no limit */
    apr_interval_time_t max_duration; /* 0: no limit */
    int format;                      /* mxhr_format */
    int keep_request;                /* MxhrKeepRequest */
    const ap_expr_info_t *channel;   /* MxhrChannel; NULL: the clock */
    /* Numbers all as 64 bits, so that one setter serves them. */
    apr_int64_t history;             /* MxhrChannelHistory */
    apr_int64_t history_time;        /* MxhrChannelHistoryTime, usec */
    apr_int64_t replay;              /* MxhrChannelReplay */
    apr_int64_t heartbeat;           /* MxhrHeartbeat, usec, 0: off */
    apr_int64_t message_max;         /* MxhrMessageMaxSize */
    apr_int64_t sse_retry;           /* MxhrSseRetry, usec, 0: none */
} mxhr_dir_conf;

typedef struct {
    int max_streams;                 /* per vhost, all children; 0: none */
    apr_interval_time_t min_interval;
    apr_interval_time_t max_duration_limit; /* 0: none */
    int async;                       /* suspend between sections */
    apr_int64_t send_buffer;         /* MxhrSendBuffer, bytes */
    apr_int64_t message_limit;       /* MxhrMessageMaxSizeLimit */
    apr_int64_t max_channels;        /* MxhrMaxChannels, 0: no limit */
    apr_int64_t history_ceiling;     /* MxhrHistoryCeiling, messages */
    apr_int64_t history_time_ceiling; /* ... and usec */
    const ap_expr_info_t *namespace_expr; /* MxhrNamespace, NULL: unset */
    int slot;                        /* shared counters index (post_config) */
} mxhr_srv_conf;

/* The effective values a stream runs with, after defaults, the server
 * floor and the server ceiling are applied. */
typedef struct {
    const char *boundary;
    apr_interval_time_t interval;
    int interval_raised;             /* the floor applied */
    const char *content_type;
    int json;
    const char *time_format;
    mxhr_time_kind time_kind;
    apr_int64_t max_sections;
    apr_interval_time_t max_duration;
    int format;
    int keep_request;                /* log at the end, keep the request */
    apr_int64_t history;
    apr_interval_time_t history_time;
    apr_int64_t replay;
    apr_interval_time_t heartbeat;
    apr_int64_t message_max;         /* the ceiling applied */
    apr_interval_time_t sse_retry;   /* 0: no retry field */
    int max_channels;                /* MxhrMaxChannels, 0: no limit */
} mxhr_settings;

extern const command_rec mxhr_cmds[];

void *mxhr_create_dir_conf(apr_pool_t *p, char *dir);
void *mxhr_merge_dir_conf(apr_pool_t *p, void *basev, void *addv);
void *mxhr_create_srv_conf(apr_pool_t *p, server_rec *s);
void *mxhr_merge_srv_conf(apr_pool_t *p, void *basev, void *addv);

/* Forgets the last reading's main-server settings (pre_config). */
void mxhr_config_pre_config(apr_pool_t *pconf);

/* MxhrStoreSize, from the main server's config (post_config). */
apr_size_t mxhr_config_store_size(void);

/* MxhrRedis: NULL when channels stay in this server's store. */
const mxhr_redis_addr *mxhr_config_redis(void);

/* MxhrRedisTimeout. */
apr_interval_time_t mxhr_config_redis_timeout(void);

void mxhr_settings_resolve(const mxhr_dir_conf *dc, const mxhr_srv_conf *sc,
                           mxhr_settings *out);

#endif /* MXHR_CONFIG_H */
