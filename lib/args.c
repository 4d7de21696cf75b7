/*  args.c - command-line options from a table
    SPDX-License-Identifier: MPL-2.0
*/
#include "certbus.h"
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>

int
certbus_args_parse (int argc, char **argv, const certbus_opt_t *table, size_t count, void *args)
{
    assert (table);
    assert (args);
    struct option *options = certbus_calloc (count + 1, sizeof *options);
    for (size_t i = 0; i < count; i++) {
        options [i].name = table [i].name;
        options [i].has_arg = table [i].type == CERTBUS_OPT_FLAG ? no_argument : required_argument;
        options [i].val = (int) i;
    }
    optind = 1;
    int opt, rc = 0;
    while (rc == 0 && (opt = getopt_long (argc, argv, "", options, NULL)) != -1) {
        if (opt < 0 || (size_t) opt >= count) {
            rc = -1; //  getopt printed the unknown option
            break;
        }
        char *field = (char *) args + table [opt].offset;
        switch (table [opt].type) {
            case CERTBUS_OPT_STRING:
                *(const char **) field = optarg;
                break;
            case CERTBUS_OPT_INT:
                *(int *) field = atoi (optarg);
                break;
            case CERTBUS_OPT_LLONG:
                *(long long *) field = atoll (optarg);
                break;
            case CERTBUS_OPT_FLAG:
                *(bool *) field = true;
                break;
        }
    }
    free (options);
    return rc == 0 ? optind : -1;
}
