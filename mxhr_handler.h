/* mod_mxhr: the stream handler (SetHandler mxhr-stream). */
#ifndef MXHR_HANDLER_H
#define MXHR_HANDLER_H

#include "httpd.h"

void mxhr_handler_register_hooks(apr_pool_t *p);

#endif /* MXHR_HANDLER_H */
