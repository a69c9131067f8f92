/* mod_mxhr: its rows in mod_status's page (streams, channels, Redis),
 * read from the counters that all children share. */

#include "apr_atomic.h"

#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "mod_status.h"

#include "mxhr_redis.h"
#include "mxhr_shared.h"
#include "mxhr_status.h"
#include "mxhr_store.h"

/* One number of mod_status: "Key: value" for ?auto, else a table row. */
static void status_row(request_rec *r, int flags, const char *key,
                       const char *label, apr_uint64_t v)
{
    if (flags & AP_STATUS_SHORT) {
        ap_rprintf(r, "%s: %" APR_UINT64_T_FMT "\n", key, v);
    }
    else {
        ap_rprintf(r, "<tr><td>%s</td><td>%" APR_UINT64_T_FMT
                   "</td></tr>\n", label, v);
    }
}

static int mxhr_status_hook(request_rec *r, int flags)
{
    static const struct {
        const char *key, *label;
        apr_size_t offset;
    } rows[] = {
        { "MxhrStreamsOpen", "Open now",
          APR_OFFSETOF(mxhr_counters, streams_open) },
        { "MxhrStreamsSuspended", "&nbsp; suspended (no thread held)",
          APR_OFFSETOF(mxhr_counters, streams_suspended) },
        { "MxhrStreamsBlocking", "&nbsp; blocking (one thread each)",
          APR_OFFSETOF(mxhr_counters, streams_blocking) },
        { "MxhrStreamsTotal", "Started",
          APR_OFFSETOF(mxhr_counters, streams_total) },
        { "MxhrSectionsSent", "Sections sent",
          APR_OFFSETOF(mxhr_counters, sections_sent) },
        { "MxhrEndedByClient", "Ended by the client",
          APR_OFFSETOF(mxhr_counters, ended[MXHR_END_CLIENT]) },
        { "MxhrEndedByLimit", "Ended by a limit",
          APR_OFFSETOF(mxhr_counters, ended[MXHR_END_LIMIT]) },
        { "MxhrEndedByShutdown", "Ended by a restart or stop",
          APR_OFFSETOF(mxhr_counters, ended[MXHR_END_SHUTDOWN]) },
        { "MxhrSlowClientsDropped", "Slow clients dropped",
          APR_OFFSETOF(mxhr_counters, ended[MXHR_END_SLOW]) },
        { "MxhrEndedByError", "Ended by an error",
          APR_OFFSETOF(mxhr_counters, ended[MXHR_END_ERROR]) },
        { "MxhrRefusedFull", "Refused (MxhrMaxStreams)",
          APR_OFFSETOF(mxhr_counters, refused_full) },
        { "MxhrBodiesEncoded", "Bodies framed as SSE data or base64",
          APR_OFFSETOF(mxhr_counters, bodies_encoded) },
    };
    mxhr_counters *k = mxhr_shared_counters();
    mxhr_store_stats st;
    apr_size_t i;

    if (!k) {
        return OK;
    }
    mxhr_store_get_stats(&st);
    if (!(flags & AP_STATUS_SHORT)) {
        ap_rputs("<hr>\n<h2>mod_mxhr streams</h2>\n<table>\n", r);
    }
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        status_row(r, flags, rows[i].key, rows[i].label, apr_atomic_read64(
            (volatile apr_uint64_t *)((char *)k + rows[i].offset)));
    }
    {
        const struct {
            const char *key, *label;
            apr_uint64_t v;
        } ch[] = {
            { "MxhrChannels", "Channels", st.channels },
            { "MxhrMessagesKept", "Messages kept", st.messages },
            { "MxhrStoreBytesUsed", "Store bytes used", st.used },
            { "MxhrStoreSize", "Store size (MxhrStoreSize)", st.size },
            { "MxhrMessagesPublished", "Messages published",
              st.published },
            { "MxhrPartsDelivered", "Messages delivered to subscribers",
              st.delivered },
            { "MxhrSubscribers", "Subscribers now", st.subscribers },
        };

        for (i = 0; i < sizeof(ch) / sizeof(ch[0]); i++) {
            status_row(r, flags, ch[i].key, ch[i].label, ch[i].v);
        }
    }
    if (mxhr_store_redis()) {
        mxhr_redis_shared *rs = mxhr_store_redis();
        const struct {
            const char *key, *label;
            apr_uint64_t v;
        } rd[] = {
            { "MxhrRedisConnected", "Redis reachable (1) or not (0)",
              apr_atomic_read32(&rs->up) },
            { "MxhrRedisReconnects", "Redis reconnections",
              apr_atomic_read64(&rs->reconnects) },
            { "MxhrRedisMessagesOut", "Messages published to Redis",
              apr_atomic_read64(&rs->out) },
            { "MxhrRedisMessagesIn", "Messages read from Redis into this "
              "server's store", apr_atomic_read64(&rs->in) },
        };

        for (i = 0; i < sizeof(rd) / sizeof(rd[0]); i++) {
            status_row(r, flags, rd[i].key, rd[i].label, rd[i].v);
        }
    }
    if (!(flags & AP_STATUS_SHORT)) {
        ap_rputs("</table>\n", r);
    }
    return OK;
}

void mxhr_status_register_hooks(apr_pool_t *p)
{
    APR_OPTIONAL_HOOK(ap, status_hook, mxhr_status_hook, NULL, NULL,
                      APR_HOOK_MIDDLE);
}
