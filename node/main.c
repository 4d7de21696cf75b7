/*  main.c - certbus-node: a CERT's or an organisation's node, and its CLI
    SPDX-License-Identifier: MPL-2.0
*/
#include "commands.h"
#include "certbus.h"
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_usage
    = "usage: certbus-node COMMAND --dir DIR [options]\n"
      "\n"
      "Set-up:\n"
      "  init      --dir DIR --org ORG_ID [--name NAME]    keys; writes DIR/request for the "
      "Council\n"
      "  enroll    --dir DIR --cert CERT --broker ENDPOINT[,ENDPOINT...] --council COUNCIL_PUB\n"
      "            --broker-key BROKER_PUB [--directory FILE]\n"
      "                                                  several endpoints: a broker pair,\n"
      "                                                  tried in turn (at most 8)\n"
      "  directory --dir DIR [--import FILE] [--json]      show or import the signed directory\n"
      "\n"
      "Service:\n"
      "  run       --dir DIR [--verbose]                   connect to the broker and stay up;\n"
      "                                                  logs on stderr (--verbose: syslog too)\n"
      "  status    --dir DIR [--json]\n"
      "\n"
      "Messages:\n"
      "  publish   --dir DIR --kind KIND --tlp TLP --to AUDIENCE [--topic T] [--severity S]\n"
      "            [--type MIME] [--wait SECONDS] FILE|-\n"
      "  inbox     --dir DIR [--kind K] [--json]\n"
      "  show      --dir DIR MESSAGE_ID                    the decrypted payload, byte for byte\n"
      "  tail      --dir DIR [--kind K] [--json] [--exec CMD] [--all] [--count N] [--timeout S]\n"
      "  seal      --dir DIR --kind K --tlp T --to AUDIENCE [--topic T] [--severity S]\n"
      "            [--type MIME] FILE --out FILE.cbe        offline, no broker\n"
      "  open      --dir DIR FILE.cbe                      verify + decrypt to stdout\n"
      "  forward   --dir DIR MESSAGE_ID --to AUDIENCE [--note FILE] [--wait SECONDS]\n"
      "                                                  re-publish, origin signature kept\n"
      "  receipts  --dir DIR MESSAGE_ID [--json]          who has our message, who has not yet\n"
      "  audit prove --dir DIR MESSAGE_ID                 inclusion + consistency proof, verified\n"
      "\n"
      "Incidents (publish --kind incident opens a case; its id is the case id):\n"
      "  incident list     --dir DIR [--status S] [--json]\n"
      "  incident show     --dir DIR CASE_ID [--json]     the whole thread, in order\n"
      "  incident update   --dir DIR CASE_ID --status STATUS [--assign ORG] [--to AUDIENCE]\n"
      "                    FILE|-                         to every participant unless --to\n"
      "  incident escalate --dir DIR CASE_ID --to AUDIENCE  bring others in, with the thread\n"
      "                    (not for TLP red or amber+strict: those never travel further)\n"
      "Statuses: reported, acknowledged, investigating, contained, resolved, closed, reopened.\n"
      "\n"
      "Audiences: org:ID, tier:TIER, sector:NAME, region:NAME, all; comma separated.\n"
      "TLP: clear, green, amber, amber+strict, red (red only to org: audiences).\n"
      "Severity: info, low, medium (default), high, critical.\n"
      "tail --exec runs CMD once per message, payload on stdin, metadata in CERTBUS_ID,\n"
      "CERTBUS_ORIGIN, CERTBUS_KIND, CERTBUS_TLP, CERTBUS_TOPIC, CERTBUS_SEVERITY,\n"
      "CERTBUS_TYPE, CERTBUS_CREATED, CERTBUS_SIZE, CERTBUS_FORWARDERS (comma list, empty when\n"
      "not forwarded).\n";

//  Every option, and where its value goes
static const certbus_opt_t s_options [] = {
    {"dir", CERTBUS_OPT_STRING, offsetof (node_args_t, dir)},
    {"org", CERTBUS_OPT_STRING, offsetof (node_args_t, org)},
    {"name", CERTBUS_OPT_STRING, offsetof (node_args_t, name)},
    {"cert", CERTBUS_OPT_STRING, offsetof (node_args_t, cert)},
    {"broker", CERTBUS_OPT_STRING, offsetof (node_args_t, broker)},
    {"council", CERTBUS_OPT_STRING, offsetof (node_args_t, council)},
    {"broker-key", CERTBUS_OPT_STRING, offsetof (node_args_t, broker_key)},
    {"directory", CERTBUS_OPT_STRING, offsetof (node_args_t, directory)},
    {"import", CERTBUS_OPT_STRING, offsetof (node_args_t, import)},
    {"note", CERTBUS_OPT_STRING, offsetof (node_args_t, note)},
    {"status", CERTBUS_OPT_STRING, offsetof (node_args_t, status)},
    {"assign", CERTBUS_OPT_STRING, offsetof (node_args_t, assign)},
    {"kind", CERTBUS_OPT_STRING, offsetof (node_args_t, kind)},
    {"tlp", CERTBUS_OPT_STRING, offsetof (node_args_t, tlp)},
    {"to", CERTBUS_OPT_STRING, offsetof (node_args_t, to)},
    {"topic", CERTBUS_OPT_STRING, offsetof (node_args_t, topic)},
    {"severity", CERTBUS_OPT_STRING, offsetof (node_args_t, severity)},
    {"type", CERTBUS_OPT_STRING, offsetof (node_args_t, type)},
    {"out", CERTBUS_OPT_STRING, offsetof (node_args_t, out)},
    {"exec", CERTBUS_OPT_STRING, offsetof (node_args_t, exec)},
    {"wait", CERTBUS_OPT_INT, offsetof (node_args_t, wait_s)},
    {"count", CERTBUS_OPT_INT, offsetof (node_args_t, count)},
    {"timeout", CERTBUS_OPT_INT, offsetof (node_args_t, timeout_s)},
    {"json", CERTBUS_OPT_FLAG, offsetof (node_args_t, json)},
    {"all", CERTBUS_OPT_FLAG, offsetof (node_args_t, all)},
    {"verbose", CERTBUS_OPT_FLAG, offsetof (node_args_t, verbose)},
    {"help", CERTBUS_OPT_FLAG, offsetof (node_args_t, help)},
};

static int
s_parse (int argc, char **argv, node_args_t *args)
{
    memset (args, 0, sizeof *args);
    args->wait_s = 10;
    int first = certbus_args_parse (argc, argv, s_options, sizeof s_options / sizeof s_options [0],
                                    args);
    if (first < 0)
        return -1;
    args->argc = argc - first;
    args->argv = argv + first;
    return 0;
}

int
main (int argc, char **argv)
{
    certbus_init ();
    if (argc < 2 || streq (argv [1], "--help") || streq (argv [1], "-h")
        || streq (argv [1], "help")) {
        fputs (s_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    static const struct {
        const char *name;
        int (*fn) (node_args_t *);
    } commands [] = {
        {"init", node_cmd_init},           {"enroll", node_cmd_enroll},
        {"directory", node_cmd_directory}, {"run", node_cmd_run},
        {"publish", node_cmd_publish},     {"inbox", node_cmd_inbox},
        {"show", node_cmd_show},           {"tail", node_cmd_tail},
        {"status", node_cmd_status},       {"seal", node_cmd_seal},
        {"open", node_cmd_open},           {"forward", node_cmd_forward},
        {"receipts", node_cmd_receipts},   {"audit", node_cmd_audit},
        {"incident", node_cmd_incident},
    };
    for (size_t i = 0; i < sizeof commands / sizeof commands [0]; i++) {
        if (!streq (argv [1], commands [i].name))
            continue;
        node_args_t args;
        if (s_parse (argc - 1, argv + 1, &args) != 0) {
            fputs (s_usage, stderr);
            return 2;
        }
        if (args.help) {
            fputs (s_usage, stdout);
            return 0;
        }
        if (!args.dir) {
            fprintf (stderr, "certbus-node: --dir DIR is required (see certbus-node --help)\n");
            return 2;
        }
        return commands [i].fn (&args);
    }
    fprintf (stderr, "certbus-node: unknown command '%s'\n\n%s", argv [1], s_usage);
    return 2;
}
