/* mod_mxhr: what drives a stream, and what it gets.
 *
 * A stream is fed by the clock or by its subscription; mxhr_drive_step()
 * does whatever is due for it at a given time, and says when it next
 * needs to run. Two drivers call it: the push engine (event MPM,
 * mxhr_engine.c) and the blocking loop here (prefork, worker, HTTP/2,
 * and whatever the engine cannot take). This file sits above the
 * subscription (mxhr_channel.c) and the stream (mxhr_stream.c) and
 * below the drivers, so that calls only run downward:
 * handler/engine -> drive -> channel -> stream -> sink.
 */

#include "httpd.h"
#include "http_connection.h"
#include "ap_mpm.h"

#include "mxhr_channel.h"
#include "mxhr_drive.h"
#include "mxhr_store.h"
#include "mxhr_stream.h"

/* Sleep in slices no longer than this, so that a graceful restart or a
 * departed client is noticed quickly whatever the interval. */
#define MXHR_SLICE apr_time_from_msec(200)

static int client_gone(mxhr_stream *s)
{
    int eof = 0;

    if (s->aborted || (s->c && s->c->aborted)) {
        return 1;
    }
    /* The engine's pollset tells it of a hang-up at once; and before
     * the first section the request has only just been read. */
    if (s->eof_watched || !mxhr_stream_started(s)) {
        return 0;
    }
    /* Nobody reads a streaming connection: ask the socket whether the
     * peer has closed, so that the worker is freed without waiting for
     * a write to fail. */
    if (s->csd && apr_socket_atreadeof(s->csd, &eof) == APR_SUCCESS && eof) {
        s->c->aborted = 1;
        return 1;
    }
    return 0;
}

int mxhr_mpm_stopping(void)
{
    int state;

    return ap_mpm_query(AP_MPMQ_MPM_STATE, &state) == APR_SUCCESS
           && state == AP_MPMQ_STOPPING;
}

/* A subscription's step: what is new in its channels, a heartbeat when
 * it has been idle. The first step sends something at once (its
 * backlog, or the body's opening) so that the client sees the response
 * now. */
static apr_time_t sub_step(mxhr_stream *s, apr_time_t now)
{
    apr_time_t wake;

    if (!mxhr_stream_started(s) && s->chunked && s->r) {
        /* The response's headers go through the request's filters. */
        mxhr_end_reason failed = mxhr_stream_send_head(s);

        if (failed != MXHR_END_NONE) {
            mxhr_stream_end(s, failed);
            return 0;
        }
    }
    mxhr_sub_pump(s, NULL);
    if (s->ended) {
        return 0;
    }
    mxhr_sub_heartbeat(s, now);
    if (s->ended) {
        return 0;
    }
    wake = mxhr_sub_heartbeat_due(s);
    if (!wake) {
        wake = now + apr_time_from_sec(3600);
    }
    if (s->end_at && s->end_at < wake) {
        wake = s->end_at;
    }
    /* Publishes wake it by themselves; the client and the MPM are looked
     * at every so often, unless the engine's pollset watches them. */
    if (!s->eof_watched && wake - now > MXHR_CHECK_EVERY) {
        wake = now + MXHR_CHECK_EVERY;
    }
    return wake;
}

apr_time_t mxhr_drive_step(mxhr_stream *s, apr_time_t now)
{
    apr_time_t wake;

    if (s->ended) {
        return 0;
    }
    if (client_gone(s)) {
        mxhr_stream_end(s, MXHR_END_CLIENT);
        return 0;
    }
    if (mxhr_mpm_stopping()) {
        mxhr_stream_close(s, MXHR_END_SHUTDOWN);
        return 0;
    }
    if (s->end_at && now >= s->end_at) {
        mxhr_stream_close(s, MXHR_END_LIMIT);
        return 0;
    }
    if (s->sub) {
        return sub_step(s, now);
    }
    if (now >= s->next_due) {
        mxhr_stream_section(s, now);
        if (s->ended) {
            return 0;
        }
        if (s->set.max_sections > 0 && s->seq >= s->set.max_sections) {
            mxhr_stream_close(s, MXHR_END_LIMIT);
            return 0;
        }
        /* The next slot on the grid start + k * interval that is still
         * ahead: late sections never shift the ones after them, and a
         * stall skips the missed slots instead of bursting. */
        s->next_due = s->start
            + ((now - s->start) / s->set.interval + 1) * s->set.interval;
    }
    wake = s->next_due;
    if (s->end_at && s->end_at < wake) {
        wake = s->end_at;
    }
    /* Without the engine's pollset, nobody looks at a suspended stream
     * between its steps. */
    if (s->async && !s->eof_watched && wake - now > MXHR_CHECK_EVERY) {
        wake = now + MXHR_CHECK_EVERY;
    }
    return wake;
}

void mxhr_drive_blocking(mxhr_stream *s)
{
    apr_uint32_t epoch = mxhr_store_epoch();
    apr_time_t wake = mxhr_drive_step(s, apr_time_now());

    while (wake) {
        apr_time_t now = apr_time_now();

        if (now < wake) {
            apr_interval_time_t nap = wake - now < MXHR_SLICE ? wake - now
                                                              : MXHR_SLICE;

            /* A publish in any child wakes a subscription at once (a
             * futex in the store); the slices keep an eye on the client
             * and the MPM. */
            if (s->sub) {
                mxhr_store_wait(epoch, nap);
            }
            else {
                apr_sleep(nap);
            }
        }
        /* Read before looking, so that no publish slips between. Between
         * slices step() only checks the client and the MPM; it sends
         * when something is due. */
        epoch = mxhr_store_epoch();
        wake = mxhr_drive_step(s, apr_time_now());
    }
}
