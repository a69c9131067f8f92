/* mod_mxhr: the publisher (SetHandler mxhr-publish). */
#ifndef MXHR_PUBLISH_H
#define MXHR_PUBLISH_H

#include "httpd.h"

void mxhr_publish_register_hooks(apr_pool_t *p);

#endif /* MXHR_PUBLISH_H */
