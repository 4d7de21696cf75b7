/*  args.h - command-line options from a table
    SPDX-License-Identifier: MPL-2.0

    Both daemons' CLIs name their options in one table each: the option's
    long name, its type, and where its value goes in the caller's struct
    (offsetof). Adding an option is then one line, not a case of a switch.
*/
#ifndef CERTBUS_ARGS_H_INCLUDED
#define CERTBUS_ARGS_H_INCLUDED

#include <stddef.h>

typedef enum {
    CERTBUS_OPT_STRING, //  const char *, the argument as given
    CERTBUS_OPT_INT,    //  int, atoi of the argument
    CERTBUS_OPT_LLONG,  //  long long, atoll of the argument
    CERTBUS_OPT_FLAG    //  bool, set to true; takes no argument
} certbus_opt_type_t;

typedef struct {
    const char *name; //  long option name, without "--"
    certbus_opt_type_t type;
    size_t offset; //  offsetof the field in the caller's struct
} certbus_opt_t;

//  Parses argv's long options (from argv [1]) into args by the table of
//  count options; values the table does not name stay as the caller set
//  them. Returns the index of the first positional argument, or -1 after
//  getopt has printed what was wrong.
int
    certbus_args_parse (int argc, char **argv, const certbus_opt_t *table, size_t count,
                        void *args);

#endif
