/*  make_seeds.c - writes the committed seed corpus of the fuzz harnesses:
    real packets, envelopes, certificates, directories, audiences, Merkle
    vectors, forward payloads and signed tree heads, made with the library
    and the shared fuzz fixture
    SPDX-License-Identifier: MPL-2.0

    Run once by hand, from the repository root:

      make build/tools/make_seeds
      build/tools/make_seeds tests/fuzz/corpus

    The fixture's keys are deterministic, so the seeds verify and decrypt
    inside the harnesses. Envelope ids, payload keys and times of signing
    are not: a new run makes new files, which is fine but churns git.
*/
#include "certbus.h"
#include "fixture.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *s_root; //  the corpus folder
static size_t s_total;     //  bytes written, for the summary

static void
s_die (const char *what)
{
    fprintf (stderr, "make_seeds: %s: %s\n", what, certbus_reason ());
    exit (1);
}

static void
s_write (const char *harness, const char *name, const uint8_t *data, size_t size)
{
    char path [512];
    snprintf (path, sizeof path, "%s/%s", s_root, harness);
    if (mkdir (path, 0755) != 0 && errno != EEXIST)
        s_die (path);
    snprintf (path, sizeof path, "%s/%s/%s", s_root, harness, name);
    FILE *file = fopen (path, "wb");
    if (!file || fwrite (data, 1, size, file) != size || fclose (file) != 0) {
        fprintf (stderr, "make_seeds: cannot write %s\n", path);
        exit (1);
    }
    s_total += size;
}

static void
s_write_packet (const char *name, Certbus__Packet *packet)
{
    packet->version = CERTBUS_WIRE_MAJOR;
    size_t size;
    uint8_t *bytes = certbus_codec_encode (packet, &size);
    s_write ("fuzz_packet", name, bytes, size);
    free (bytes);
}

//  ---------------------------------------------------------------------------
//  Envelopes, sealed from fixture members to fixture members

static uint8_t *
s_seal (fx_t *fx, size_t from, const char *kind, const char *tlp, const char *audience,
        const char *payload, size_t *size_p)
{
    certbus_cert_t *own = fx_cert (fx, from);
    certbus_seal_opts_t opts = {.kind = kind,
                                .tlp = tlp,
                                .audience = audience,
                                .topic = "CVE-2026-0001",
                                .severity = "high",
                                .content_type = "application/json"};
    uint8_t id [CERTBUS_ID_SIZE];
    uint8_t *bytes;
    //  Sealed through seal_to: seal resolves against the clock, and the
    //  fixture's certificates are judged at FX_NOW
    char **orgs;
    size_t count;
    if (certbus_audience_resolve (audience, tlp, fx->dir, fx_org (from), FX_NOW, &orgs, &count))
        s_die (audience);
    if (certbus_envelope_seal_to (fx->ids [from], own, fx->dir, &opts, orgs, count,
                                  (const uint8_t *) payload, strlen (payload), id, &bytes, size_p))
        s_die ("seal");
    certbus_strv_free (orgs, count);
    certbus_cert_destroy (&own);
    return bytes;
}

static void
s_envelopes (fx_t *fx, uint8_t **publish_p, size_t *publish_size_p, uint8_t **deliver_p,
             size_t *deliver_size_p)
{
    static const char *payload = "{\"document\":{\"category\":\"csaf_security_advisory\","
                                 "\"title\":\"Example advisory\"}}";
    static const char *tlps [] = {"clear", "green", "amber", "amber+strict", "red"};
    size_t size;
    uint8_t *bytes;
    for (size_t i = 0; i < 5; i++) {
        char name [64];
        snprintf (name, sizeof name, "advisory-%s", tlps [i]);
        bytes = s_seal (fx, 0, "advisory", tlps [i], "org:bank-01", payload, &size);
        s_write ("fuzz_envelope", name, bytes, size);
        if (i == 2)
            *publish_p = bytes, *publish_size_p = size;
        else
            free (bytes);
    }
    bytes = s_seal (fx, 1, "incident", "amber", "tier:national", "{\"incident\":1}", &size);
    s_write ("fuzz_envelope", "incident-from-bank", bytes, size);
    free (bytes);
    bytes = s_seal (fx, 0, "alert", "clear", "all", "", &size);
    s_write ("fuzz_envelope", "alert-clear-empty", bytes, size);
    free (bytes);

    //  To both members (the sender too), with references and case fields
    certbus_cert_t *own;
    if (certbus_cert_decode (fx->certs [0], fx->cert_sizes [0],
                             certbus_identity_sign_public (fx->council), &own))
        s_die ("own certificate");
    certbus_ref_t refs [2] = {{.relation = "updates"}, {.relation = "forwards"}};
    memset (refs [0].id, 0x11, CERTBUS_ID_SIZE);
    memset (refs [1].id, 0x22, CERTBUS_ID_SIZE);
    certbus_seal_opts_t opts = {.kind = "incident",
                                .tlp = "amber",
                                .audience = "org:bank-01,org:cert-national",
                                .severity = "critical",
                                .content_type = "text/plain",
                                .refs = refs,
                                .ref_count = 2,
                                .case_status = "investigating",
                                .assign = "cert-national"};
    char *both [] = {"bank-01", "cert-national"};
    uint8_t id [CERTBUS_ID_SIZE];
    if (certbus_envelope_seal_to (fx->ids [0], own, fx->dir, &opts, both, 2,
                                  (const uint8_t *) "ransomware at bank-01", 21, id, &bytes, &size))
        s_die ("seal to both");
    s_write ("fuzz_envelope", "incident-both-refs", bytes, size);
    certbus_cert_destroy (&own);

    //  Cut down to the bank alone, as the broker delivers it
    certbus_envelope_t *env;
    if (certbus_envelope_decode (bytes, size, &env))
        s_die ("decode");
    size_t base_size, one_size;
    uint8_t *base = certbus_envelope_base_bytes (env, &base_size);
    uint8_t *one = certbus_envelope_recipient_bytes (env, 0, &one_size);
    uint8_t *cut = malloc (base_size + one_size);
    memcpy (cut, base, base_size);
    memcpy (cut + base_size, one, one_size);
    s_write ("fuzz_envelope", "incident-cut-for-bank", cut, base_size + one_size);
    *deliver_p = cut;
    *deliver_size_p = base_size + one_size;
    free (base);
    free (one);
    free (bytes);
    certbus_envelope_destroy (&env);
}

//  ---------------------------------------------------------------------------
//  Certificates, requests, revocations, directories

static void
s_certs (fx_t *fx)
{
    char name [64];
    for (size_t i = 0; i < fx->count; i++) {
        snprintf (name, sizeof name, "cert-%s", fx_org (i));
        s_write ("fuzz_cert", name, fx->certs [i], fx->cert_sizes [i]);
        snprintf (name, sizeof name, "request-%s", fx_org (i));
        s_write ("fuzz_cert", name, fx->requests [i], fx->request_sizes [i]);
    }
    for (size_t i = 0; i < fx->rev_count; i++) {
        snprintf (name, sizeof name, "revocation-%zu", i);
        s_write ("fuzz_cert", name, fx->revs [i], fx->rev_sizes [i]);
    }
}

static void
s_directories (fx_t *small, fx_t *full)
{
    s_write ("fuzz_directory", "full", full->dir_bytes, full->dir_size);
    s_write ("fuzz_directory", "small", small->dir_bytes, small->dir_size);
    uint8_t *bytes;
    size_t size;
    if (certbus_directory_build (full->council, 1, NULL, NULL, 0, NULL, NULL, 0, &bytes, &size))
        s_die ("empty directory");
    s_write ("fuzz_directory", "empty", bytes, size);
    free (bytes);
    if (certbus_directory_build (full->council, 3, full->certs, full->cert_sizes, 3, NULL, NULL, 0,
                                 &bytes, &size))
        s_die ("old directory");
    s_write ("fuzz_directory", "three-members", bytes, size);
    free (bytes);
    if (certbus_directory_build (full->council, 9, NULL, NULL, 0, full->revs, full->rev_sizes,
                                 full->rev_count, &bytes, &size))
        s_die ("revocations only");
    s_write ("fuzz_directory", "revocations-only", bytes, size);
    free (bytes);
}

static void
s_audiences (void)
{
    static const char *audiences [] = {
        "all",
        "org:bank-01",
        "tier:national",
        "sector:banking",
        "region:punjab",
        "org:bank-01,org:cert-banking",
        "sector:banking, region:sindh",
        "tier:organization,sector:telecom",
        "org:gov-01",
        "org:telco-01",
        "org:prov-01",
        "tier:government,tier:provincial,tier:sectoral,tier:federal",
        "all,org:bank-01",
        "region:islamabad , org:cert-national",
    };
    for (size_t i = 0; i < sizeof audiences / sizeof audiences [0]; i++) {
        char name [32];
        snprintf (name, sizeof name, "audience-%02zu", i);
        s_write ("fuzz_audience", name, (const uint8_t *) audiences [i], strlen (audiences [i]));
    }
}

//  ---------------------------------------------------------------------------
//  Packets

static void
s_packets (fx_t *fx, const uint8_t *envelope, size_t envelope_size, const uint8_t *cut,
           size_t cut_size)
{
    uint8_t message_id [CERTBUS_ID_SIZE];
    memset (message_id, 0x42, sizeof message_id);
    Certbus__Packet packet = CERTBUS__PACKET__INIT;

    Certbus__Hello hello = CERTBUS__HELLO__INIT;
    hello.credit = 64;
    hello.directory_serial = FX_DIR_SERIAL;
    hello.agent = "certbus-node/0.1.0";
    packet.body_case = CERTBUS__PACKET__BODY_HELLO;
    packet.hello = &hello;
    s_write_packet ("hello", &packet);

    Certbus__Publish publish = CERTBUS__PUBLISH__INIT;
    publish.envelope = (ProtobufCBinaryData){envelope_size, (uint8_t *) envelope};
    packet.body_case = CERTBUS__PACKET__BODY_PUBLISH;
    packet.publish = &publish;
    s_write_packet ("publish", &packet);

    Certbus__PubAck puback = CERTBUS__PUB_ACK__INIT;
    puback.message_id = (ProtobufCBinaryData){sizeof message_id, message_id};
    puback.status = CERTBUS__STATUS__STATUS_ACCEPTED;
    puback.sequence = 5;
    puback.accepted_at = (int64_t) FX_NOW * 1000;
    packet.body_case = CERTBUS__PACKET__BODY_PUBACK;
    packet.puback = &puback;
    s_write_packet ("puback-accepted", &packet);
    puback.status = CERTBUS__STATUS__STATUS_REJECTED;
    puback.code = CERTBUS_E_POLICY;
    puback.reason = "organisations never address all";
    puback.rule = "org-no-all";
    puback.sequence = 0;
    s_write_packet ("puback-rejected", &packet);

    Certbus__Deliver deliver = CERTBUS__DELIVER__INIT;
    deliver.sequence = 9;
    deliver.envelope = (ProtobufCBinaryData){cut_size, (uint8_t *) cut};
    deliver.accepted_at = (int64_t) FX_NOW * 1000;
    deliver.message_sequence = 5;
    packet.body_case = CERTBUS__PACKET__BODY_DELIVER;
    packet.deliver = &deliver;
    s_write_packet ("deliver", &packet);

    uint64_t sequences [] = {1, 2, 3, 300, 70000};
    Certbus__DeliverAck ack = CERTBUS__DELIVER_ACK__INIT;
    ack.n_sequences = 5;
    ack.sequences = sequences;
    ack.refused = 1;
    packet.body_case = CERTBUS__PACKET__BODY_DELIVER_ACK;
    packet.deliver_ack = &ack;
    s_write_packet ("deliver-ack", &packet);

    Certbus__DirectoryRequest dreq = CERTBUS__DIRECTORY_REQUEST__INIT;
    packet.body_case = CERTBUS__PACKET__BODY_DIRECTORY_REQUEST;
    packet.directory_request = &dreq;
    s_write_packet ("directory-request", &packet);

    Certbus__DirectoryReply drep = CERTBUS__DIRECTORY_REPLY__INIT;
    drep.directory = (ProtobufCBinaryData){fx->dir_size, fx->dir_bytes};
    packet.body_case = CERTBUS__PACKET__BODY_DIRECTORY_REPLY;
    packet.directory_reply = &drep;
    s_write_packet ("directory-reply", &packet);

    Certbus__Ping ping = CERTBUS__PING__INIT;
    ping.time = (int64_t) FX_NOW * 1000;
    packet.body_case = CERTBUS__PACKET__BODY_PING;
    packet.ping = &ping;
    s_write_packet ("ping", &packet);
    Certbus__Pong pong = CERTBUS__PONG__INIT;
    pong.time = (int64_t) FX_NOW * 1000 + 3;
    packet.body_case = CERTBUS__PACKET__BODY_PONG;
    packet.pong = &pong;
    s_write_packet ("pong", &packet);

    Certbus__ProofRequest preq = CERTBUS__PROOF_REQUEST__INIT;
    preq.message_id = (ProtobufCBinaryData){sizeof message_id, message_id};
    preq.old_size = 3;
    packet.body_case = CERTBUS__PACKET__BODY_PROOF_REQUEST;
    packet.proof_request = &preq;
    s_write_packet ("proof-request", &packet);

    //  A proof reply with real tree heads signed by a fixture key
    uint8_t hashes [3][CERTBUS_MERKLE_HASH_SIZE];
    ProtobufCBinaryData proof [3];
    for (int i = 0; i < 3; i++) {
        certbus_merkle_leaf_hash (hashes [i], (const uint8_t *) &i, sizeof i);
        proof [i] = (ProtobufCBinaryData){sizeof hashes [i], hashes [i]};
    }
    certbus_tree_head_t head = {.size = 7, .timestamp = (int64_t) FX_NOW * 1000};
    memcpy (head.root, hashes [0], sizeof head.root);
    size_t head_size;
    uint8_t *head_bytes = certbus_tree_head_sign (fx->council, &head, &head_size);
    Certbus__ProofReply prep = CERTBUS__PROOF_REPLY__INIT;
    prep.leaf_index = 2;
    prep.leaf = (ProtobufCBinaryData){12, (uint8_t *) "audit record"};
    prep.n_inclusion = 3;
    prep.inclusion = proof;
    prep.n_consistency = 2;
    prep.consistency = proof + 1;
    prep.tree_head = (ProtobufCBinaryData){head_size, head_bytes};
    packet.body_case = CERTBUS__PACKET__BODY_PROOF_REPLY;
    packet.proof_reply = &prep;
    s_write_packet ("proof-reply", &packet);
    free (head_bytes);

    Certbus__Error error = CERTBUS__ERROR__INIT;
    error.code = CERTBUS_E_PROTOCOL;
    error.reason = "packet out of order";
    packet.body_case = CERTBUS__PACKET__BODY_ERROR;
    packet.error = &error;
    s_write_packet ("error", &packet);
}

//  ---------------------------------------------------------------------------
//  Merkle vectors, in the layout fuzz_merkle.c reads

#define H CERTBUS_MERKLE_HASH_SIZE

typedef struct {
    uint8_t leaves [16][H];
    uint64_t size;
} s_tree_t;

static int
s_get_node (void *ctx, unsigned level, uint64_t index, uint8_t out [H])
{
    s_tree_t *tree = ctx;
    uint64_t start = index << level, end = (index + 1) << level;
    if (end > tree->size)
        return CERTBUS_E_NOT_FOUND;
    certbus_merkle_root (out, tree->leaves [start], (size_t) (end - start));
    return 0;
}

static void
s_merkle_write (const char *name, uint8_t mode, uint64_t a, uint64_t b, const uint8_t *h1,
                size_t h1_len, const uint8_t *h2, size_t h2_len, const uint8_t *proof,
                size_t proof_len)
{
    uint8_t buf [17 + 2 * H + CERTBUS_MERKLE_PROOF_MAX_BYTES];
    size_t pos = 0;
    buf [pos++] = mode;
    for (int shift = 56; shift >= 0; shift -= 8)
        buf [pos++] = (uint8_t) (a >> shift);
    for (int shift = 56; shift >= 0; shift -= 8)
        buf [pos++] = (uint8_t) (b >> shift);
    memcpy (buf + pos, h1, h1_len);
    pos += h1_len;
    memcpy (buf + pos, h2, h2_len);
    pos += h2_len;
    memcpy (buf + pos, proof, proof_len);
    pos += proof_len;
    s_write ("fuzz_merkle", name, buf, pos);
}

static void
s_merkle (void)
{
    s_tree_t tree = {.size = 16};
    for (uint8_t i = 0; i < 16; i++)
        certbus_merkle_leaf_hash (tree.leaves [i], &i, 1);
    uint8_t proof [CERTBUS_MERKLE_PROOF_MAX_BYTES];
    size_t proof_len;
    uint8_t root7 [H], root3 [H], root4 [H], root16 [H];
    certbus_merkle_root (root7, tree.leaves [0], 7);
    certbus_merkle_root (root3, tree.leaves [0], 3);
    certbus_merkle_root (root4, tree.leaves [0], 4);
    certbus_merkle_root (root16, tree.leaves [0], 16);

    //  Valid inclusion proofs (mode 0: the raw numbers)
    if (certbus_merkle_inclusion_proof (proof, &proof_len, 3, 7, s_get_node, &tree))
        s_die ("inclusion proof");
    s_merkle_write ("inclusion-3-of-7", 0, 3, 7, tree.leaves [3], H, root7, H, proof, proof_len);
    if (certbus_merkle_inclusion_proof (proof, &proof_len, 15, 16, s_get_node, &tree))
        s_die ("inclusion proof");
    s_merkle_write ("inclusion-15-of-16", 0, 15, 16, tree.leaves [15], H, root16, H, proof,
                    proof_len);
    s_merkle_write ("inclusion-0-of-1", 0, 0, 1, tree.leaves [0], H, tree.leaves [0], H, NULL, 0);

    //  Valid consistency proofs
    if (certbus_merkle_consistency_proof (proof, &proof_len, 3, 7, s_get_node, &tree))
        s_die ("consistency proof");
    s_merkle_write ("consistency-3-to-7", 0, 3, 7, root3, H, root7, H, proof, proof_len);
    if (certbus_merkle_consistency_proof (proof, &proof_len, 4, 16, s_get_node, &tree))
        s_die ("consistency proof");
    s_merkle_write ("consistency-4-to-16", 0, 4, 16, root4, H, root16, H, proof, proof_len);
    s_merkle_write ("consistency-equal", 0, 7, 7, root7, H, root7, H, NULL, 0);
    //  A short root (mode bit 2, cut to 20 bytes) and sizes near 2^64
    s_merkle_write ("short-root", 0x04 | (20 << 3), 3, 7, root3, H, root7, H, proof, proof_len);
    s_merkle_write ("huge-sizes", 0, UINT64_MAX - 1, UINT64_MAX, root3, H, root7, H, proof,
                    proof_len);

    //  A stored frontier (the rest of the input is its encoding)
    certbus_merkle_frontier_t frontier;
    certbus_merkle_frontier_init (&frontier);
    for (int i = 0; i < 13; i++)
        if (certbus_merkle_frontier_append (&frontier, tree.leaves [i], NULL, NULL))
            s_die ("frontier");
    uint8_t encoded [CERTBUS_MERKLE_FRONTIER_MAX_BYTES];
    size_t encoded_size = certbus_merkle_frontier_encode (&frontier, encoded);
    s_merkle_write ("frontier-13", 0, 0, 0, encoded, encoded_size, NULL, 0, NULL, 0);

    //  Generated trees (mode bit 7), small and near the 300-leaf bound
    uint8_t salt [16] = "certbus merkle!";
    s_merkle_write ("generate-7", 0x81, 3, 6, salt, sizeof salt, NULL, 0, NULL, 0);
    s_merkle_write ("generate-299", 0x81, 200, 298, salt, sizeof salt, NULL, 0, NULL, 0);
    s_merkle_write ("generate-64", 0x83, 31, 63, salt, sizeof salt, NULL, 0, NULL, 0);
}

//  ---------------------------------------------------------------------------
//  Forward payloads, one and two forwarders deep, and one for each link
//  that certbus_forward_open refuses (see fuzz_forward.c). Made with the
//  forward fixture (FX_MEMBERS_FORWARD): a legal two-hop chain needs three
//  members. Each seed is opened here under the outer envelope the harness
//  makes for it (fx_forward_outer), and must open or be refused as noted.

#define s_NATIONAL 0
#define s_BANK 1
#define s_SECTORAL 2

//  An envelope of the forward content type from member from to member to,
//  carrying payload, with the references given
static uint8_t *
s_forward_envelope (fx_t *fx, size_t from, size_t to, const certbus_ref_t *refs, size_t ref_count,
                    const uint8_t *payload, size_t payload_size, size_t *size_p)
{
    certbus_cert_t *own = fx_cert (fx, from);
    char audience [64];
    snprintf (audience, sizeof audience, "org:%s", fx_org (to));
    certbus_seal_opts_t opts = {.kind = "advisory",
                                .tlp = "amber",
                                .audience = audience,
                                .topic = "forwarded",
                                .severity = "high",
                                .content_type = CERTBUS_FORWARD_TYPE,
                                .refs = refs,
                                .ref_count = ref_count};
    char *orgs [] = {(char *) fx_org (to)};
    uint8_t id [CERTBUS_ID_SIZE], *bytes;
    if (certbus_envelope_seal_to (fx->ids [from], own, fx->dir, &opts, orgs, 1, payload,
                                  payload_size, id, &bytes, size_p))
        s_die ("seal forward");
    certbus_cert_destroy (&own);
    return bytes;
}

//  The forward payload in which member as (a recipient of the envelope in
//  bytes) forwards it. certbus_forward_wrap refuses TLP red and
//  amber+strict, so those are packed here as a member running its own
//  client would.
static uint8_t *
s_wrap (fx_t *fx, const uint8_t *bytes, size_t size, size_t as, const char *note,
        size_t *payload_size_p)
{
    certbus_envelope_t *env;
    if (certbus_envelope_decode (bytes, size, &env))
        s_die ("decode to forward");
    const char *tlp = certbus_envelope_header (env)->tlp;
    uint8_t *payload;
    if (strcmp (tlp, "red") != 0 && strcmp (tlp, "amber+strict") != 0) {
        if (certbus_forward_wrap (env, fx->ids [as], fx_org (as), (const uint8_t *) note,
                                  note ? strlen (note) : 0, note ? "text/plain" : NULL, &payload,
                                  payload_size_p))
            s_die ("forward wrap");
    }
    else {
        uint8_t key [32];
        if (certbus_envelope_content_key (env, fx->ids [as], fx_org (as), key))
            s_die ("content key");
        Certbus__Forward forward = CERTBUS__FORWARD__INIT;
        forward.version = CERTBUS_WIRE_MAJOR;
        forward.header.data = (uint8_t *) certbus_envelope_header_bytes (env, &forward.header.len);
        forward.signature.data = (uint8_t *) certbus_envelope_signature (env,
                                                                         &forward.signature.len);
        forward.ciphertext.data = (uint8_t *) certbus_envelope_ciphertext (env,
                                                                           &forward.ciphertext.len);
        forward.content_key.data = key;
        forward.content_key.len = sizeof key;
        forward.note.data = (uint8_t *) note;
        forward.note.len = note ? strlen (note) : 0;
        forward.note_type = (char *) (note ? "text/plain" : "");
        payload = certbus_codec_encode (&forward, payload_size_p);
    }
    certbus_envelope_destroy (&env);
    return payload;
}

//  Writes the seed and opens it, as the harness does, under the outer
//  envelope for inner (the envelope the payload carries): it must open
//  with these forwarders (expected CERTBUS_OK), or be refused with
//  expected for a reason that contains what
static void
s_forward_seed (fx_t *fx, const char *name, const uint8_t *inner, size_t inner_size,
                const uint8_t *payload, size_t payload_size, certbus_err_t expected,
                const char *what)
{
    s_write ("fuzz_forward", name, payload, payload_size);
    certbus_envelope_t *env;
    if (certbus_envelope_decode (inner, inner_size, &env))
        s_die (name);
    const certbus_header_t *h = certbus_envelope_header (env);
    certbus_envelope_t *outer = fx_forward_outer (fx, h->id, h->origin, h->tlp);
    certbus_envelope_destroy (&env);
    certbus_forwarded_t *opened = NULL;
    certbus_err_t rc = certbus_forward_open (fx->dir, outer, payload, payload_size, &opened);
    if (rc != expected || (rc == CERTBUS_OK && strcmp (opened->forwarders, what) != 0)
        || (rc != CERTBUS_OK && !strstr (certbus_reason (), what))) {
        fprintf (stderr, "make_seeds: %s: code %d (%s); wanted code %d (%s)\n", name, (int) rc,
                 rc ? certbus_reason () : opened->forwarders, (int) expected, what);
        exit (1);
    }
    certbus_forwarded_destroy (&opened);
    certbus_envelope_destroy (&outer);
}

//  A reference that forwards the envelope in bytes
static certbus_ref_t
s_forwards_ref (const uint8_t *bytes, size_t size)
{
    certbus_envelope_t *env;
    if (certbus_envelope_decode (bytes, size, &env))
        s_die ("decode to reference");
    certbus_ref_t ref = {.relation = "forwards"};
    memcpy (ref.id, certbus_envelope_header (env)->id, CERTBUS_ID_SIZE);
    certbus_envelope_destroy (&env);
    return ref;
}

//  The bank forwards payload (its forward of another envelope) to the
//  sectoral CERT with these references, and the sectoral CERT forwards that
//  hop again with note: seed name, which opens or is refused as want and
//  why say (s_forward_seed)
static void
s_second_hop_seed (fx_t *fx, const char *name, const certbus_ref_t *refs, size_t ref_count,
                   const uint8_t *payload, size_t payload_size, const char *note,
                   certbus_err_t want, const char *why)
{
    size_t hop_size, two_size;
    uint8_t *hop = s_forward_envelope (fx, s_BANK, s_SECTORAL, refs, ref_count, payload,
                                       payload_size, &hop_size);
    uint8_t *two = s_wrap (fx, hop, hop_size, s_SECTORAL, note, &two_size);
    s_forward_seed (fx, name, hop, hop_size, two, two_size, want, why);
    free (two);
    free (hop);
}

static void
s_forwards (fx_t *fx)
{
    static const char *advisory = "{\"document\":{\"title\":\"forward me\"}}";
    size_t size, one_size, bare_size;
    //  The national CERT's amber advisory, forwarded by the bank
    uint8_t *original = s_seal (fx, s_NATIONAL, "advisory", "amber", "org:bank-01", advisory,
                                &size);
    uint8_t *one = s_wrap (fx, original, size, s_BANK, "seen here too", &one_size);
    s_forward_seed (fx, "forward-one", original, size, one, one_size, CERTBUS_OK, "bank-01");
    uint8_t *bare = s_wrap (fx, original, size, s_BANK, NULL, &bare_size);
    s_forward_seed (fx, "forward-no-note", original, size, bare, bare_size, CERTBUS_OK, "bank-01");
    //  The bank forwards it to the sectoral CERT, which forwards that again
    certbus_ref_t ref = s_forwards_ref (original, size);
    s_second_hop_seed (fx, "forward-two", &ref, 1, one, one_size, "second hop", CERTBUS_OK,
                       "bank-01,cert-banking");

    //  TLP red and amber+strict never travel further than their recipients
    static const char *tlps [] = {"red", "amber+strict"};
    for (size_t i = 0; i < 2; i++) {
        uint8_t *closed = s_seal (fx, s_NATIONAL, "advisory", tlps [i], "org:bank-01", advisory,
                                  &size);
        uint8_t *payload = s_wrap (fx, closed, size, s_BANK, NULL, &bare_size);
        char name [64];
        snprintf (name, sizeof name, "refused-%s", i ? "amber-strict" : "red");
        char why [64];
        snprintf (why, sizeof why, "TLP %s was forwarded", tlps [i]);
        s_forward_seed (fx, name, closed, size, payload, bare_size, CERTBUS_E_TLP, why);
        free (payload);
        free (closed);
    }

    //  A hop whose `forwards` reference names another message, or that has none
    certbus_ref_t other = {.relation = "forwards"};
    memset (other.id, 0x22, CERTBUS_ID_SIZE);
    s_second_hop_seed (fx, "refused-wrong-reference", &other, 1, one, one_size, NULL,
                       CERTBUS_E_FIELD, "has 1, to another message");
    s_second_hop_seed (fx, "refused-no-reference", NULL, 0, one, one_size, NULL, CERTBUS_E_FIELD,
                       "has 0");

    //  The bank forwards its own advisory (sealed with a copy to itself, so
    //  that it holds the content key), and the sectoral CERT passes that on
    certbus_cert_t *bank = fx_cert (fx, s_BANK);
    certbus_seal_opts_t opts = {.kind = "advisory",
                                .tlp = "amber",
                                .audience = "org:cert-national",
                                .topic = "CVE-2026-0001",
                                .severity = "high",
                                .content_type = "application/json"};
    char *with_copy [] = {"cert-national", "bank-01"};
    uint8_t id [CERTBUS_ID_SIZE], *own;
    if (certbus_envelope_seal_to (fx->ids [s_BANK], bank, fx->dir, &opts, with_copy, 2,
                                  (const uint8_t *) advisory, strlen (advisory), id, &own, &size))
        s_die ("seal with a copy");
    certbus_cert_destroy (&bank);
    uint8_t *own_one = s_wrap (fx, own, size, s_BANK, NULL, &bare_size);
    ref = s_forwards_ref (own, size);
    s_second_hop_seed (fx, "refused-own-message", &ref, 1, own_one, bare_size, NULL,
                       CERTBUS_E_POLICY, "bank-01 forwarded its own message");
    free (own_one);
    free (own);
    //  The sectoral CERT's advisory, forwarded by the bank, comes back to
    //  it: the harness's outer envelope for the bank's hop is the sectoral
    //  CERT's, so it forwards its own message through a chain
    own = s_seal (fx, s_SECTORAL, "advisory", "amber", "org:bank-01", advisory, &size);
    own_one = s_wrap (fx, own, size, s_BANK, NULL, &bare_size);
    ref = s_forwards_ref (own, size);
    s_second_hop_seed (fx, "refused-own-via-chain", &ref, 1, own_one, bare_size, NULL,
                       CERTBUS_E_POLICY, "cert-banking forwarded its own message through");
    free (own_one);
    free (own);

    free (original);
    free (one);
    free (bare);
}

//  ---------------------------------------------------------------------------
//  Signed tree heads, signed with the Council key (see fuzz_treehead.c)

static void
s_tree_heads (fx_t *fx)
{
    static const struct {
        const char *name;
        uint64_t size;
        int64_t timestamp;
    } heads [] = {
        {"empty", 0, 1800000000000},
        {"seven", 7, 1800000000123},
        {"large", 1000000, 1800000999999},
        {"max", UINT64_MAX, INT64_MAX},
    };
    for (size_t i = 0; i < sizeof heads / sizeof heads [0]; i++) {
        certbus_tree_head_t head = {.size = heads [i].size, .timestamp = heads [i].timestamp};
        for (size_t b = 0; b < sizeof head.root; b++)
            head.root [b] = (uint8_t) (i * 31 + b);
        size_t size;
        uint8_t *bytes = certbus_tree_head_sign (fx->council, &head, &size);
        s_write ("fuzz_treehead", heads [i].name, bytes, size);
        free (bytes);
    }
}

int
main (int argc, char *argv [])
{
    if (argc != 2) {
        fprintf (stderr, "usage: %s CORPUS_DIR (e.g. tests/fuzz/corpus)\n", argv [0]);
        return 2;
    }
    s_root = argv [1];
    if (mkdir (s_root, 0755) != 0 && errno != EEXIST)
        s_die (s_root);
    fx_deterministic_random ();
    fx_t small, forward, full;
    if (fx_init (&small, FX_MEMBERS_SMALL))
        s_die ("small fixture");
    if (fx_init (&forward, FX_MEMBERS_FORWARD))
        s_die ("forward fixture");
    if (fx_init (&full, FX_MEMBERS_MAX))
        s_die ("full fixture");
    //  The fixtures must hold the same keys
    if (memcmp (certbus_identity_sign_public (small.council),
                certbus_identity_sign_public (full.council), CERTBUS_KEY_SIZE)
            != 0
        || memcmp (certbus_identity_sign_public (forward.council),
                   certbus_identity_sign_public (full.council), CERTBUS_KEY_SIZE)
               != 0)
        s_die ("fixtures disagree");

    uint8_t *publish = NULL, *deliver = NULL;
    size_t publish_size = 0, deliver_size = 0;
    s_envelopes (&small, &publish, &publish_size, &deliver, &deliver_size);
    s_certs (&full);
    s_directories (&small, &full);
    s_audiences ();
    s_packets (&small, publish, publish_size, deliver, deliver_size);
    s_merkle ();
    s_forwards (&forward);
    s_tree_heads (&small);
    free (publish);
    free (deliver);
    fx_destroy (&small);
    fx_destroy (&forward);
    fx_destroy (&full);
    printf ("make_seeds: %zu bytes of seeds in %s\n", s_total, s_root);
    return 0;
}
