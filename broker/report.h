/*  report.h - incident response times for the Council
    SPDX-License-Identifier: MPL-2.0
*/
#ifndef BROKER_REPORT_H_INCLUDED
#define BROKER_REPORT_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

//  Prints cases opened since (unix ms) by tier, sector and severity, with
//  median and p90 time to acknowledge and to resolve, and the open cases
//  unacknowledged past their severity's threshold. overdue is a list such
//  as "critical=15m,high=1h" (NULL for the defaults). Returns 0 or -1.
int
    report_print (const char *dir, int64_t since, bool json, const char *overdue);

#endif
