/* mod_mxhr: what drives a stream (see mxhr_drive.c). */
#ifndef MXHR_DRIVE_H
#define MXHR_DRIVE_H

#include "mxhr_stream.h"

/* Does whatever is due at now: a section, what is new in its channels,
 * a heartbeat, the end by limit, by client, by shutdown. Returns the
 * time it next needs to run (0 once ended). */
apr_time_t mxhr_drive_step(mxhr_stream *s, apr_time_t now);

/* Runs the stream to its end on this thread, sleeping in slices (and,
 * for a subscription, on the store's futex). */
void mxhr_drive_blocking(mxhr_stream *s);

/* 1 once the MPM says this child is stopping (graceful or not). */
int mxhr_mpm_stopping(void);

#endif /* MXHR_DRIVE_H */
