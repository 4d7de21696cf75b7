/*  audit.h - the Council operator's audit commands: verify and list
    SPDX-License-Identifier: MPL-2.0
*/
#ifndef BROKER_AUDIT_H_INCLUDED
#define BROKER_AUDIT_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

//  Recomputes every leaf, node and root of the audit log in DIR, checks
//  every tree head's signature, their timestamps and their consistency.
//  Prints the first problem (naming the record) and returns -1, or prints
//  a summary and returns 0.
int
    audit_verify (const char *dir);

//  Prints audit records, optionally of one org and from a time on (unix ms).
int
    audit_list (const char *dir, const char *org, int64_t since, bool json);

#endif
