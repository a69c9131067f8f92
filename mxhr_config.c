/* mod_mxhr: directives, create/merge, and the effective settings. */

#include <errno.h>

#include "apr_strings.h"
#include "apr_lib.h"
#include "apr_atomic.h"

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"

#include "mxhr_config.h"
#include "mxhr_private.h"

/* What a .htaccess or <Directory> cannot exceed without the admin. */
#define MXHR_MAX_STREAMS_MAX  1000000
#define MXHR_MAX_SECTIONS_MAX APR_INT64_C(1000000000000)

void *mxhr_create_dir_conf(apr_pool_t *p, char *dir)
{
    mxhr_dir_conf *dc = apr_pcalloc(p, sizeof(*dc));

    dc->dir = dir;
    dc->boundary = NULL;
    dc->interval = MXHR_UNSET;
    dc->content_type = NULL;
    dc->time_format = NULL;
    dc->time_kind = MXHR_UNSET;
    dc->max_sections = MXHR_UNSET;
    dc->max_duration = MXHR_UNSET;
    dc->format = MXHR_UNSET;
    dc->keep_request = MXHR_UNSET;
    dc->channel = NULL;
    dc->history = MXHR_UNSET;
    dc->history_time = MXHR_UNSET;
    dc->replay = MXHR_UNSET;
    dc->heartbeat = MXHR_UNSET;
    dc->message_max = MXHR_UNSET;
    dc->sse_retry = MXHR_UNSET;
    return dc;
}

/* A fresh struct: base and add are shared by every request and must
 * never be written here. */
void *mxhr_merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    const mxhr_dir_conf *base = basev, *add = addv;
    mxhr_dir_conf *dc = apr_pcalloc(p, sizeof(*dc));

    dc->dir = add->dir ? add->dir : base->dir;
    dc->boundary = add->boundary ? add->boundary : base->boundary;
    dc->interval = add->interval != MXHR_UNSET ? add->interval
                                               : base->interval;
    dc->content_type = add->content_type ? add->content_type
                                         : base->content_type;
    /* The format and its kind travel together. */
    if (add->time_format) {
        dc->time_format = add->time_format;
        dc->time_kind = add->time_kind;
    }
    else {
        dc->time_format = base->time_format;
        dc->time_kind = base->time_kind;
    }
    dc->max_sections = add->max_sections != MXHR_UNSET ? add->max_sections
                                                       : base->max_sections;
    dc->max_duration = add->max_duration != MXHR_UNSET ? add->max_duration
                                                       : base->max_duration;
    dc->format = add->format != MXHR_UNSET ? add->format : base->format;
    dc->keep_request = add->keep_request != MXHR_UNSET ? add->keep_request
                                                       : base->keep_request;
    dc->channel = add->channel ? add->channel : base->channel;
#define MERGE(f) dc->f = add->f != MXHR_UNSET ? add->f : base->f
    MERGE(history);
    MERGE(history_time);
    MERGE(replay);
    MERGE(heartbeat);
    MERGE(message_max);
    MERGE(sse_retry);
#undef MERGE
    return dc;
}

void *mxhr_create_srv_conf(apr_pool_t *p, server_rec *s)
{
    mxhr_srv_conf *sc = apr_pcalloc(p, sizeof(*sc));

    sc->max_streams = MXHR_UNSET;
    sc->min_interval = MXHR_UNSET;
    sc->max_duration_limit = MXHR_UNSET;
    sc->async = MXHR_UNSET;
    sc->send_buffer = MXHR_UNSET;
    sc->message_limit = MXHR_UNSET;
    sc->max_channels = MXHR_UNSET;
    sc->history_ceiling = MXHR_UNSET;
    sc->history_time_ceiling = MXHR_UNSET;
    sc->slot = MXHR_UNSET;
    return sc;
}

void *mxhr_merge_srv_conf(apr_pool_t *p, void *basev, void *addv)
{
    const mxhr_srv_conf *base = basev, *add = addv;
    mxhr_srv_conf *sc = apr_pcalloc(p, sizeof(*sc));

    sc->max_streams = add->max_streams != MXHR_UNSET ? add->max_streams
                                                     : base->max_streams;
    sc->min_interval = add->min_interval != MXHR_UNSET ? add->min_interval
                                                       : base->min_interval;
    sc->max_duration_limit = add->max_duration_limit != MXHR_UNSET
                             ? add->max_duration_limit
                             : base->max_duration_limit;
    sc->async = add->async != MXHR_UNSET ? add->async : base->async;
    sc->send_buffer = add->send_buffer != MXHR_UNSET ? add->send_buffer
                                                     : base->send_buffer;
    sc->message_limit = add->message_limit != MXHR_UNSET
                        ? add->message_limit : base->message_limit;
    sc->max_channels = add->max_channels != MXHR_UNSET ? add->max_channels
                                                       : base->max_channels;
    sc->namespace_expr = add->namespace_expr ? add->namespace_expr
                                             : base->namespace_expr;
    /* Both numbers come from one directive: they travel together. */
    if (add->history_ceiling != MXHR_UNSET) {
        sc->history_ceiling = add->history_ceiling;
        sc->history_time_ceiling = add->history_time_ceiling;
    }
    else {
        sc->history_ceiling = base->history_ceiling;
        sc->history_time_ceiling = base->history_time_ceiling;
    }
    /* Each virtual host counts its own streams. */
    sc->slot = MXHR_UNSET;
    return sc;
}

void mxhr_settings_resolve(const mxhr_dir_conf *dc, const mxhr_srv_conf *sc,
                           mxhr_settings *out)
{
    apr_interval_time_t floor = sc->min_interval != MXHR_UNSET
                                ? sc->min_interval
                                : MXHR_DEFAULT_MIN_INTERVAL;
    apr_interval_time_t ceiling = sc->max_duration_limit != MXHR_UNSET
                                  ? sc->max_duration_limit : 0;

    out->boundary = dc->boundary;
    out->interval = dc->interval != MXHR_UNSET ? dc->interval
                                               : MXHR_DEFAULT_INTERVAL;
    out->interval_raised = 0;
    if (out->interval < floor) {
        out->interval = floor;
        out->interval_raised = 1;
    }
    out->content_type = dc->content_type ? dc->content_type
                                         : MXHR_DEFAULT_CONTENT_TYPE;
    out->json = mxhr_media_type_is_json(out->content_type);
    if (dc->time_format) {
        out->time_format = dc->time_format;
        out->time_kind = dc->time_kind;
    }
    else {
        out->time_format = MXHR_DEFAULT_TIME_FORMAT;
        out->time_kind = MXHR_TIME_STRFTIME;
    }
    out->max_sections = dc->max_sections != MXHR_UNSET ? dc->max_sections : 0;
    out->max_duration = dc->max_duration != MXHR_UNSET ? dc->max_duration : 0;
    if (ceiling > 0 && (out->max_duration == 0
                        || out->max_duration > ceiling)) {
        out->max_duration = ceiling;
    }
    out->format = dc->format != MXHR_UNSET ? dc->format : MXHR_FORMAT_AUTO;
    out->keep_request = dc->keep_request != MXHR_UNSET ? dc->keep_request
                                                       : 0;
    out->history = dc->history != MXHR_UNSET ? dc->history
                                             : MXHR_DEFAULT_HISTORY;
    out->history_time = dc->history_time != MXHR_UNSET
                        ? dc->history_time : MXHR_DEFAULT_HISTORY_TIME;
    out->replay = dc->replay != MXHR_UNSET ? dc->replay : 0;
    out->heartbeat = dc->heartbeat != MXHR_UNSET ? dc->heartbeat
                                                 : MXHR_DEFAULT_HEARTBEAT;
    out->message_max = dc->message_max != MXHR_UNSET
                       ? dc->message_max : MXHR_DEFAULT_MESSAGE_MAX;
    out->sse_retry = dc->sse_retry != MXHR_UNSET ? dc->sse_retry : 0;
    out->max_channels = sc->max_channels > 0 ? (int)sc->max_channels : 0;
    {
        apr_int64_t limit = sc->message_limit != MXHR_UNSET
                            ? sc->message_limit
                            : MXHR_DEFAULT_MESSAGE_LIMIT;

        if (out->message_max > limit) {
            out->message_max = limit;
        }
    }
}

static const char *bad_value(cmd_parms *cmd, const char *arg,
                             const char *why, const char *allowed)
{
    return apr_psprintf(cmd->pool, "%s: '%s' %s; %s", cmd->cmd->name, arg,
                        why, allowed);
}

#define DURATION_HELP "use a whole number with an optional unit ms, s, m " \
                      "or h, e.g. 250ms, 5s, 2m (a bare number is seconds)"

static const char *set_boundary(cmd_parms *cmd, void *dconf, const char *arg)
{
    mxhr_dir_conf *dc = dconf;

    if (!mxhr_boundary_valid(arg)) {
        return bad_value(cmd, arg, "is not a valid multipart boundary",
                         "use 1 to 70 characters among letters, digits and "
                         "'()+_,-./:=? and space, not ending in a space "
                         "(RFC 2046)");
    }
    dc->boundary = arg;
    return NULL;
}

static const char *set_interval(cmd_parms *cmd, void *dconf, const char *arg)
{
    mxhr_dir_conf *dc = dconf;
    apr_interval_time_t v;
    const char *why = mxhr_parse_duration(arg, &v);

    if (why) {
        return bad_value(cmd, arg, why, DURATION_HELP);
    }
    if (v == 0) {
        return bad_value(cmd, arg, "is zero", "the interval must be "
                         "greater than 0, e.g. 5s");
    }
    dc->interval = v;
    return NULL;
}

static const char *set_content_type(cmd_parms *cmd, void *dconf,
                                    const char *arg)
{
    mxhr_dir_conf *dc = dconf;

    if (!mxhr_media_type_valid(arg)) {
        return bad_value(cmd, arg, "is not a valid media type",
                         "use type/subtype with optional parameters, e.g. "
                         "\"text/plain; charset=utf-8\" or application/json "
                         "(no control characters, at most 255 characters)");
    }
    dc->content_type = arg;
    return NULL;
}

static const char *set_time_format(cmd_parms *cmd, void *dconf,
                                   const char *arg)
{
    mxhr_dir_conf *dc = dconf;
    mxhr_time_kind kind;
    const char *why = mxhr_time_format_check(arg, &kind);

    if (why) {
        return bad_value(cmd, arg, why, "use a strftime format (with %L "
                         "for milliseconds), iso8601 or epoch-ms");
    }
    dc->time_format = arg;
    dc->time_kind = kind;
    return NULL;
}

static const char *set_max_sections(cmd_parms *cmd, void *dconf,
                                    const char *arg)
{
    mxhr_dir_conf *dc = dconf;
    apr_int64_t v;
    const char *why = mxhr_parse_count(arg, MXHR_MAX_SECTIONS_MAX, &v);

    if (why) {
        return bad_value(cmd, arg, why, "use a whole number of sections, "
                         "0 for no limit");
    }
    dc->max_sections = v;
    return NULL;
}

static const char *set_max_duration(cmd_parms *cmd, void *dconf,
                                    const char *arg)
{
    mxhr_dir_conf *dc = dconf;
    apr_interval_time_t v;
    const char *why = mxhr_parse_duration(arg, &v);

    if (why) {
        return bad_value(cmd, arg, why, DURATION_HELP "; 0 for no limit");
    }
    dc->max_duration = v;
    return NULL;
}

static const char *set_format(cmd_parms *cmd, void *dconf, const char *arg)
{
    mxhr_dir_conf *dc = dconf;

    if (strcasecmp(arg, "auto") == 0) {
        dc->format = MXHR_FORMAT_AUTO;
    }
    else if (strcasecmp(arg, "mixed-replace") == 0) {
        dc->format = MXHR_FORMAT_MIXED_REPLACE;
    }
    else if (strcasecmp(arg, "mixed") == 0) {
        dc->format = MXHR_FORMAT_MIXED;
    }
    else if (strcasecmp(arg, "sse") == 0) {
        dc->format = MXHR_FORMAT_SSE;
    }
    else {
        return bad_value(cmd, arg, "is not a known format",
                         "use auto, mixed-replace, mixed or sse");
    }
    return NULL;
}

static mxhr_srv_conf *srv_conf(cmd_parms *cmd)
{
    return ap_get_module_config(cmd->server->module_config, &mxhr_module);
}

static const char *set_max_streams(cmd_parms *cmd, void *dconf,
                                   const char *arg)
{
    apr_int64_t v;
    const char *why = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);

    if (why) {
        return why;
    }
    why = mxhr_parse_count(arg, MXHR_MAX_STREAMS_MAX, &v);
    if (why) {
        return bad_value(cmd, arg, why, "use a whole number of streams up "
                         "to 1000000, 0 for no limit");
    }
    srv_conf(cmd)->max_streams = (int)v;
    return NULL;
}

static const char *set_min_interval(cmd_parms *cmd, void *dconf,
                                    const char *arg)
{
    apr_interval_time_t v;
    const char *why = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);

    if (why) {
        return why;
    }
    why = mxhr_parse_duration(arg, &v);
    if (why) {
        return bad_value(cmd, arg, why, DURATION_HELP);
    }
    if (v < apr_time_from_msec(1)) {
        return bad_value(cmd, arg, "is below 1ms", "use at least 1ms; the "
                         "default is 100ms");
    }
    srv_conf(cmd)->min_interval = v;
    return NULL;
}

static const char *set_max_duration_limit(cmd_parms *cmd, void *dconf,
                                          const char *arg)
{
    apr_interval_time_t v;
    const char *why = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);

    if (why) {
        return why;
    }
    why = mxhr_parse_duration(arg, &v);
    if (why) {
        return bad_value(cmd, arg, why, DURATION_HELP "; 0 for no limit");
    }
    srv_conf(cmd)->max_duration_limit = v;
    return NULL;
}

static const char *set_async(cmd_parms *cmd, void *dconf, int flag)
{
    const char *why = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);

    if (why) {
        return why;
    }
    srv_conf(cmd)->async = flag;
    return NULL;
}

static const char *set_keep_request(cmd_parms *cmd, void *dconf, int flag)
{
    mxhr_dir_conf *dc = dconf;

    dc->keep_request = flag;
    return NULL;
}

/* "65536", "64k", "1m": bytes, KiB, MiB. */
static const char *parse_size(const char *arg, apr_int64_t max,
                              apr_int64_t *out)
{
    char *end;
    apr_int64_t v, unit = 1;

    if (!apr_isdigit(*arg)) {
        return "is not a size";
    }
    errno = 0;
    v = apr_strtoi64(arg, &end, 10);
    if (errno == ERANGE || v > max) {
        return "is too large";
    }
    if (*end == 'k' || *end == 'K') {
        unit = 1024;
        end++;
    }
    else if (*end == 'm' || *end == 'M') {
        unit = 1024 * 1024;
        end++;
    }
    if (*end) {
        return "is not a size";
    }
    if (v > APR_INT64_MAX / unit) {
        return "is too large";
    }
    *out = v * unit;
    return NULL;
}

static const char *set_send_buffer(cmd_parms *cmd, void *dconf,
                                   const char *arg)
{
    apr_int64_t v;
    const char *why = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);

    if (why) {
        return why;
    }
    why = parse_size(arg, MXHR_SEND_BUFFER_MAX, &v);
    if (!why && (v < MXHR_SEND_BUFFER_MIN || v > MXHR_SEND_BUFFER_MAX)) {
        why = "is out of range";
    }
    if (why) {
        return bad_value(cmd, arg, why, "use a size from 1k to 64m, e.g. "
                         "65536, 64k or 1m (the default is 64k)");
    }
    srv_conf(cmd)->send_buffer = v;
    return NULL;
}

/* ---- Channels -------------------------------------------------------- */

static const char *set_channel(cmd_parms *cmd, void *dconf, const char *arg)
{
    mxhr_dir_conf *dc = dconf;
    const char *err = NULL;

    dc->channel = ap_expr_parse_cmd(cmd, arg, AP_EXPR_FLAG_STRING_RESULT,
                                    &err, NULL);
    if (err) {
        return apr_psprintf(cmd->pool, "%s: cannot parse \"%s\": %s; use "
                            "a string expression, e.g. "
                            "\"%%{env:MATCH_ROOM}\" or \"%%{mxhr_arg:id}\"",
                            cmd->cmd->name, arg, err);
    }
    return NULL;
}

/* The server admin's, never a .htaccess's: a customer naming its
 * namespace could name another's. */
static const char *set_namespace(cmd_parms *cmd, void *dconf,
                                 const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);

    if (err) {
        return err;
    }
    srv_conf(cmd)->namespace_expr
        = ap_expr_parse_cmd(cmd, arg, AP_EXPR_FLAG_STRING_RESULT, &err,
                            NULL);
    if (err) {
        return apr_psprintf(cmd->pool, "%s: cannot parse \"%s\": %s; use "
                            "a string expression, e.g. \"%%{HTTP_HOST}\" "
                            "or \"shop\"", cmd->cmd->name, arg, err);
    }
    return NULL;
}

/* The channels' numeric directives share one setter, described by a
 * row of this kind (cmd->info). */
typedef enum { NUM_COUNT, NUM_DURATION, NUM_SIZE } num_kind;

typedef struct {
    num_kind kind;
    int server;                 /* in mxhr_srv_conf, not in a directory */
    apr_size_t offset;          /* of its apr_int64_t field */
    apr_int64_t min, max;       /* 0 is allowed too when zero_ok */
    int zero_ok;
    const char *below;          /* what a value under min is told */
    const char *help;
    int ceiling;                /* CEIL_*: capped in .htaccess */
} num_directive;

#define CEIL_NONE     0
#define CEIL_MESSAGES 1         /* by MxhrHistoryCeiling's count */
#define CEIL_TIME     2         /* by its duration */

/* A value in a .htaccess above the server's MxhrHistoryCeiling is
 * lowered to it (the ceiling is the admin's; .htaccess files are read
 * for every request: logged at most every 10 s per process). */
static apr_int64_t ceiling_cap(cmd_parms *cmd, const num_directive *d,
                               const char *arg, apr_int64_t v)
{
    static volatile apr_uint64_t logged;
    const mxhr_srv_conf *sc = srv_conf(cmd);
    apr_int64_t max;
    apr_uint64_t now, last;

    if (d->ceiling == CEIL_NONE
        || !ap_check_cmd_context(cmd, NOT_IN_HTACCESS)) {
        return v;
    }
    if (d->ceiling == CEIL_MESSAGES) {
        max = sc->history_ceiling != MXHR_UNSET
              ? sc->history_ceiling : MXHR_DEFAULT_HISTORY_CEILING;
    }
    else {
        max = sc->history_time_ceiling != MXHR_UNSET
              ? sc->history_time_ceiling : MXHR_DEFAULT_HISTORY_TIME_CEILING;
    }
    if (v <= max) {
        return v;
    }
    now = (apr_uint64_t)apr_time_now();
    last = apr_atomic_read64(&logged);
    if (now - last >= (apr_uint64_t)apr_time_from_sec(10)
        && apr_atomic_cas64(&logged, now, last) == last) {
        int messages = d->ceiling == CEIL_MESSAGES;

        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, cmd->server,
                     MXHR_LOGNO(140) "%s line %d: %s %s is above this "
                     "server's MxhrHistoryCeiling: lowered to %"
                     APR_INT64_T_FMT "%s (logged at most every 10s)",
                     cmd->directive->filename, cmd->directive->line_num,
                     cmd->cmd->name, arg,
                     messages ? max : (apr_int64_t)apr_time_sec(max),
                     messages ? " messages" : "s");
    }
    return max;
}

static const char *set_number(cmd_parms *cmd, void *dconf, const char *arg)
{
    const num_directive *d = cmd->info;
    const char *why = NULL;
    apr_int64_t v = 0;
    apr_interval_time_t t;

    if (d->server && (why = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE))) {
        return why;
    }
    switch (d->kind) {
    case NUM_COUNT:
        why = mxhr_parse_count(arg, d->max, &v);
        break;
    case NUM_DURATION:
        /* t is only written on success. */
        why = mxhr_parse_duration(arg, &t);
        if (!why) {
            v = t;
        }
        break;
    case NUM_SIZE:
        why = parse_size(arg, d->max, &v);
        break;
    }
    if (!why && v > d->max) {
        why = "is too large";
    }
    if (!why && v < d->min && !(v == 0 && d->zero_ok)) {
        why = d->below;
    }
    if (why) {
        return bad_value(cmd, arg, why, d->help);
    }
    *(apr_int64_t *)((char *)(d->server ? (void *)srv_conf(cmd) : dconf)
                     + d->offset) = ceiling_cap(cmd, d, arg, v);
    return NULL;
}

#define DIR_FIELD(f) 0, APR_OFFSETOF(mxhr_dir_conf, f)
#define SRV_FIELD(f) 1, APR_OFFSETOF(mxhr_srv_conf, f)

static num_directive num_history = {
    NUM_COUNT, DIR_FIELD(history), 1, MXHR_HISTORY_MAX, 0, "is below 1",
    "use a whole number of messages from 1 to 100000 (the default is 100)",
    CEIL_MESSAGES
};
static num_directive num_history_time = {
    NUM_DURATION, DIR_FIELD(history_time), APR_USEC_PER_SEC,
    APR_INT64_MAX, 0, "is below 1s",
    DURATION_HELP ", at least 1s (the default is 1h)", CEIL_TIME
};
static num_directive num_replay = {
    NUM_COUNT, DIR_FIELD(replay), 0, MXHR_REPLAY_MAX, 1, NULL,
    "use a whole number of messages up to 100000 (the default is 0)"
};
static num_directive num_heartbeat = {
    NUM_DURATION, DIR_FIELD(heartbeat), 100000, APR_INT64_MAX, 1,
    "is below 100ms", DURATION_HELP ", 0 for none (the default is 30s)"
};
static num_directive num_message_max = {
    NUM_SIZE, DIR_FIELD(message_max), 0, MXHR_MESSAGE_MAX_MAX, 1, NULL,
    "use a size up to 1024m, e.g. 65536, 64k or 1m (the default is 64k)"
};
static num_directive num_sse_retry = {
    NUM_DURATION, DIR_FIELD(sse_retry), APR_USEC_PER_SEC / 1000,
    APR_INT64_MAX, 1, "is below 1ms",
    DURATION_HELP ", 0 for none (the default: none)"
};
static num_directive num_message_limit = {
    NUM_SIZE, SRV_FIELD(message_limit), 0, MXHR_MESSAGE_MAX_MAX, 1, NULL,
    "use a size up to 1024m, e.g. 1m (the default is 16m)"
};
static num_directive num_max_channels = {
    NUM_COUNT, SRV_FIELD(max_channels), 0, 100000000, 1, NULL,
    "use a whole number of channels, 0 for no limit but the store's"
};

static const char *set_history_ceiling(cmd_parms *cmd, void *dconf,
                                       const char *count, const char *time)
{
    mxhr_srv_conf *sc = srv_conf(cmd);
    apr_int64_t n;
    apr_interval_time_t t;
    const char *why = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);

    if (why) {
        return why;
    }
    why = mxhr_parse_count(count, MXHR_HISTORY_MAX, &n);
    if (!why && n < 1) {
        why = "is below 1";
    }
    if (why) {
        return bad_value(cmd, count, why, "use a whole number of messages "
                         "from 1 to 100000, then a duration, e.g. "
                         "MxhrHistoryCeiling 1000 1h (the default)");
    }
    why = mxhr_parse_duration(time, &t);
    if (!why && t < APR_USEC_PER_SEC) {
        why = "is below 1s";
    }
    if (why) {
        return bad_value(cmd, time, why, DURATION_HELP ", at least 1s, "
                         "e.g. MxhrHistoryCeiling 1000 1h (the default)");
    }
    sc->history_ceiling = n;
    sc->history_time_ceiling = t;
    return NULL;
}

/* What only the main server sets, from one reading of the
 * configuration: back to the defaults before each (reset_globals). */
static struct {
    apr_int64_t store_size;             /* MxhrStoreSize */
    const mxhr_redis_addr *redis_addr;  /* MxhrRedis, NULL: none */
    apr_interval_time_t redis_timeout;  /* MxhrRedisTimeout */
} globals;

apr_size_t mxhr_config_store_size(void)
{
    return globals.store_size != MXHR_UNSET
           ? (apr_size_t)globals.store_size : MXHR_DEFAULT_STORE_SIZE;
}

static const char *set_store_size(cmd_parms *cmd, void *dconf,
                                  const char *arg)
{
    apr_int64_t v;
    const char *why = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (why) {
        return why;
    }
    why = parse_size(arg, MXHR_STORE_SIZE_MAX, &v);
    if (!why && v > MXHR_STORE_SIZE_MAX) {
        why = "is too large";
    }
    if (!why && v < MXHR_STORE_SIZE_MIN) {
        why = "is below 1m";
    }
    if (why) {
        return bad_value(cmd, arg, why, "use a size of at least 1m, e.g. "
                         "32m or 1024m (the default is 32m)");
    }
    globals.store_size = v;
    return NULL;
}

/* ---- Redis (main server only: one connection set per child) -------- */

const mxhr_redis_addr *mxhr_config_redis(void)
{
    return globals.redis_addr;
}

apr_interval_time_t mxhr_config_redis_timeout(void)
{
    return globals.redis_timeout != MXHR_UNSET ? globals.redis_timeout
                                               : MXHR_DEFAULT_REDIS_TIMEOUT;
}

static const char *set_redis(cmd_parms *cmd, void *dconf, const char *arg)
{
    mxhr_redis_addr *a;
    const char *why = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (why) {
        return why;
    }
    a = apr_pcalloc(cmd->pool, sizeof(*a));
    why = mxhr_redis_url_parse(cmd->pool, arg, a);
    if (why) {
        /* Not echoed: the URL may hold a password. */
        return apr_psprintf(cmd->pool, "%s: the URL %s; use "
                            "redis://host:port, redis://:password@host:port/db"
                            " or unix:/path/to/redis.sock", cmd->cmd->name,
                            why);
    }
    globals.redis_addr = a;
    return NULL;
}

static const char *set_redis_timeout(cmd_parms *cmd, void *dconf,
                                     const char *arg)
{
    apr_interval_time_t t;
    const char *why = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (why) {
        return why;
    }
    why = mxhr_parse_duration(arg, &t);
    if (!why && t < apr_time_from_msec(10)) {
        why = "is below 10ms";
    }
    if (!why && t > apr_time_from_sec(60)) {
        why = "is above 60s";
    }
    if (why) {
        return bad_value(cmd, arg, why, "use a time from 10ms to 60s, e.g. "
                         "2s or 500ms (the default is 2s)");
    }
    globals.redis_timeout = t;
    return NULL;
}

/* Each reading of the configuration starts from the defaults; and
 * none outlives its pool (redis_addr is in it). */
static apr_status_t reset_globals(void *data)
{
    globals.store_size = MXHR_UNSET;
    globals.redis_addr = NULL;
    globals.redis_timeout = MXHR_UNSET;
    return APR_SUCCESS;
}

void mxhr_config_pre_config(apr_pool_t *pconf)
{
    reset_globals(NULL);
    apr_pool_cleanup_register(pconf, NULL, reset_globals,
                              apr_pool_cleanup_null);
}

const command_rec mxhr_cmds[] = {
    AP_INIT_TAKE1("MxhrBoundary", set_boundary, NULL, OR_FILEINFO,
                  "Multipart boundary (RFC 2046); unset: random per "
                  "response"),
    AP_INIT_TAKE1("MxhrInterval", set_interval, NULL, OR_FILEINFO,
                  "Time between sections, e.g. 5s or 250ms (default 5s)"),
    AP_INIT_TAKE1("MxhrContentType", set_content_type, NULL, OR_FILEINFO,
                  "Content-Type of each part (default text/plain; "
                  "charset=utf-8)"),
    AP_INIT_TAKE1("MxhrTimeFormat", set_time_format, NULL, OR_FILEINFO,
                  "strftime format with %L for ms, or iso8601, or epoch-ms"),
    AP_INIT_TAKE1("MxhrMaxSections", set_max_sections, NULL, OR_FILEINFO,
                  "End the stream after this many sections (0: no limit)"),
    AP_INIT_TAKE1("MxhrMaxDuration", set_max_duration, NULL, OR_FILEINFO,
                  "End the stream after this long (0: no limit)"),
    AP_INIT_TAKE1("MxhrFormat", set_format, NULL, OR_FILEINFO,
                  "auto, mixed-replace, mixed or sse (default auto)"),
    AP_INIT_TAKE1("MxhrMaxStreams", set_max_streams, NULL, RSRC_CONF,
                  "Concurrent streams per virtual host (0: no limit)"),
    AP_INIT_TAKE1("MxhrMinInterval", set_min_interval, NULL, RSRC_CONF,
                  "Floor for any MxhrInterval (default 100ms)"),
    AP_INIT_TAKE1("MxhrMaxDurationLimit", set_max_duration_limit, NULL,
                  RSRC_CONF, "Ceiling for any stream's duration "
                  "(0: none)"),
    AP_INIT_FLAG("MxhrAsync", set_async, NULL, RSRC_CONF,
                 "On the event MPM, hold no thread between sections "
                 "(default On)"),
    AP_INIT_TAKE1("MxhrSendBuffer", set_send_buffer, NULL, RSRC_CONF,
                  "What a stream's client may leave unread before it is "
                  "dropped, e.g. 64k (default 64k)"),
    AP_INIT_FLAG("MxhrKeepRequest", set_keep_request, NULL, ACCESS_CONF,
                 "On the event MPM, keep each stream's request until it "
                 "ends, for a classic access log line (default Off)"),
    AP_INIT_TAKE1("MxhrChannel", set_channel, NULL, OR_FILEINFO,
                  "Channel id(s), an expression: one id or up to 16 "
                  "separated by commas"),
    AP_INIT_TAKE1("MxhrChannelHistory", set_number, &num_history, OR_FILEINFO,
                  "Messages kept per channel (default 100)"),
    AP_INIT_TAKE1("MxhrChannelHistoryTime", set_number, &num_history_time,
                  OR_FILEINFO, "How long messages are kept (default 1h)"),
    AP_INIT_TAKE1("MxhrChannelReplay", set_number, &num_replay, OR_FILEINFO,
                  "A new subscriber without an id first gets the last N "
                  "messages (default 0)"),
    AP_INIT_TAKE1("MxhrHeartbeat", set_number, &num_heartbeat, OR_FILEINFO,
                  "An idle subscription sends a heartbeat this often "
                  "(default 30s, 0: never)"),
    AP_INIT_TAKE1("MxhrMessageMaxSize", set_number, &num_message_max,
                  OR_FILEINFO,
                  "Largest message a publisher takes (default 64k)"),
    AP_INIT_TAKE1("MxhrSseRetry", set_number, &num_sse_retry, OR_FILEINFO,
                  "Server-sent events: the retry field sent at the start "
                  "(default none)"),
    AP_INIT_TAKE1("MxhrMessageMaxSizeLimit", set_number, &num_message_limit,
                  RSRC_CONF, "Ceiling for any MxhrMessageMaxSize "
                  "(default 16m)"),
    AP_INIT_TAKE1("MxhrStoreSize", set_store_size, NULL, RSRC_CONF,
                  "Shared memory for all channels, main server only "
                  "(default 32m)"),
    AP_INIT_TAKE1("MxhrRedis", set_redis, NULL, RSRC_CONF,
                  "Keep channels in Redis and share them with every server "
                  "using it: redis://[:password@]host:port[/db] or "
                  "unix:/path (main server only)"),
    AP_INIT_TAKE1("MxhrRedisTimeout", set_redis_timeout, NULL, RSRC_CONF,
                  "The most a request waits on Redis (default 2s, main "
                  "server only)"),
    AP_INIT_TAKE1("MxhrNamespace", set_namespace, NULL, RSRC_CONF,
                  "Whose channels a request sees, an expression, e.g. "
                  "\"%{HTTP_HOST}\" (default: the virtual host)"),
    AP_INIT_TAKE2("MxhrHistoryCeiling", set_history_ceiling, NULL,
                  RSRC_CONF, "The most a .htaccess may ask of "
                  "MxhrChannelHistory and MxhrChannelHistoryTime, e.g. "
                  "1000 1h (the default)"),
    AP_INIT_TAKE1("MxhrMaxChannels", set_number, &num_max_channels,
                  RSRC_CONF,
                  "Channels per virtual host (default 0: no limit but the "
                  "store's)"),
    {NULL}
};
