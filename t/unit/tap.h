/* TAP output for the C unit tests (t/unit/NAME_test.c), read by prove
 * through t/00_unit.t. */
#ifndef MXHR_TAP_H
#define MXHR_TAP_H

#include <stdio.h>
#include <string.h>

static int tests_run, tests_failed;

static inline void ok(int cond, const char *what)
{
    tests_run++;
    if (!cond) {
        tests_failed++;
    }
    printf("%sok %d - %s\n", cond ? "" : "not ", tests_run, what);
}

static inline void is_str(const char *got, const char *want, const char *what)
{
    int same = got && want && strcmp(got, want) == 0;
    ok(same, what);
    if (!same) {
        printf("#   got:  '%s'\n#   want: '%s'\n", got ? got : "(null)",
               want ? want : "(null)");
    }
}

/* The plan, last; the exit status for prove. */
static inline int tap_done(void)
{
    printf("1..%d\n", tests_run);
    return tests_failed ? 1 : 0;
}

#endif /* MXHR_TAP_H */
