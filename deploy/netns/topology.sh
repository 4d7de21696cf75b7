#!/usr/bin/env bash
# topology.sh - a small multi-host certbus network made of network
# namespaces joined by veth links to a bridge: a Council host, two CERT
# hosts and an organisation host, on 10.77.0.0/24 inside the namespaces
# only. Needs root (ip netns).
#
#   topology.sh up PREFIX      create PREFIX-hub (bridge) and the hosts
#                              PREFIX-council 10.77.0.1, PREFIX-cert1 .11,
#                              PREFIX-cert2 .12, PREFIX-org .21
#   topology.sh down PREFIX    remove them (either topology)
#   topology.sh up-pair PREFIX a Council broker pair on one database:
#                              PREFIX-hub (bridge), PREFIX-brokera 10.77.0.2,
#                              PREFIX-brokerb .3, PREFIX-db .31 (db1), and
#                              member hosts PREFIX-cert1 .11, PREFIX-cert2 .12,
#                              PREFIX-org .21; for a replicated database
#                              (ha-db.sh) also PREFIX-db2 .32 and
#                              PREFIX-witness .33
#   topology.sh down-pair PREFIX   the same as down
#   topology.sh cut PREFIX HOST / restore PREFIX HOST
#                              take a host's link down / up again
#   topology.sh exec PREFIX HOST CMD...   run CMD on a host
set -euo pipefail

cmd=${1:-}; prefix=${2:-cb}
# NAME:LAST-OCTET; a name has one address in every topology
single=(council:1 cert1:11 cert2:12 org:21)
pair=(brokera:2 brokerb:3 db:31 db2:32 witness:33 cert1:11 cert2:12 org:21)
every=(council:1 brokera:2 brokerb:3 db:31 db2:32 witness:33 cert1:11 cert2:12 org:21)
hosts=("${single[@]}")

up() {
    ip netns add "$prefix-hub"
    ip -n "$prefix-hub" link add br0 type bridge
    ip -n "$prefix-hub" link set br0 up
    ip -n "$prefix-hub" link set lo up
    for entry in "${hosts[@]}"; do
        local host=${entry%%:*} last=${entry##*:}
        local ns=$prefix-$host
        ip netns add "$ns"
        ip link add "v$last-$prefix" type veth peer name eth0 netns "$ns"
        ip link set "v$last-$prefix" netns "$prefix-hub"
        ip -n "$prefix-hub" link set "v$last-$prefix" master br0 up
        ip -n "$ns" addr add "10.77.0.$last/24" dev eth0
        ip -n "$ns" link set eth0 up
        ip -n "$ns" link set lo up
    done
}

down() {
    for entry in "${every[@]}"; do ip netns del "$prefix-${entry%%:*}" 2>/dev/null || true; done
    ip netns del "$prefix-hub" 2>/dev/null || true
}

link_of() {
    local host=$1
    for entry in "${every[@]}"; do
        [ "${entry%%:*}" = "$host" ] && { echo "v${entry##*:}-$prefix"; return; }
    done
    echo "unknown host $host" >&2
    exit 2
}

case $cmd in
    up) up ;;
    up-pair) hosts=("${pair[@]}"); up ;;
    down | down-pair) down ;;
    cut) ip -n "$prefix-hub" link set "$(link_of "$3")" down ;;
    restore) ip -n "$prefix-hub" link set "$(link_of "$3")" up ;;
    exec) host=$3; shift 3; exec ip netns exec "$prefix-$host" "$@" ;;
    *) echo "usage: topology.sh up|up-pair|down|down-pair|cut|restore|exec PREFIX [HOST] [CMD...]" >&2; exit 2 ;;
esac
