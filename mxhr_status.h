/* mod_mxhr: its rows in mod_status's page. */
#ifndef MXHR_STATUS_H
#define MXHR_STATUS_H

#include "httpd.h"

void mxhr_status_register_hooks(apr_pool_t *p);

#endif /* MXHR_STATUS_H */
