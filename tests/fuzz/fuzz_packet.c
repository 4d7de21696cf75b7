/*  fuzz_packet.c - libFuzzer harness: one hostile ZeroMQ message decoded as a
    Packet, with the limits of lib/packet.c
    SPDX-License-Identifier: MPL-2.0

    Beyond "never crash, never leak", two properties: a packet that decodes
    re-encodes to bytes that decode again, to the same bytes (the broker and
    the node forward what they decoded); and the envelope inside a publish
    or a deliver goes through the bounded envelope decoder, as the broker
    and the node do next.
*/
#include "certbus.h"
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerInitialize (int *argc, char ***argv);
int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    certbus_init ();
    return 0;
}

static void
s_envelope (ProtobufCBinaryData bytes)
{
    certbus_envelope_t *env = NULL;
    if (certbus_envelope_decode (bytes.data, bytes.len, &env) == CERTBUS_OK) {
        (void) certbus_envelope_header (env);
        (void) certbus_envelope_complete (env);
        certbus_envelope_destroy (&env);
    }
    else if (env)
        __builtin_trap ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    Certbus__Packet *packet = NULL;
    //  As certbus_packet_decode: a packet may come in any valid encoding
    certbus_err_t rc = certbus_codec_decode_unsigned (&certbus__packet__descriptor, data, size,
                                                      CERTBUS_MAX_PACKET, CERTBUS_MAX_REPEATED,
                                                      (void **) &packet);
    if (rc != CERTBUS_OK) {
        if (packet || rc >= CERTBUS_E__COUNT)
            __builtin_trap ();
        return 0;
    }
    //  What certbus_packet_decode refuses after the codec
    if (packet->body_case == CERTBUS__PACKET__BODY__NOT_SET) {
        certbus_codec_free (packet);
        return 0;
    }
    if (strcmp (certbus_packet_name (packet), "none") == 0)
        __builtin_trap ();
    if (packet->body_case == CERTBUS__PACKET__BODY_PUBLISH)
        s_envelope (packet->publish->envelope);
    else if (packet->body_case == CERTBUS__PACKET__BODY_DELIVER)
        s_envelope (packet->deliver->envelope);

    //  Round trip: encode, decode, encode again
    size_t size1, size2;
    uint8_t *bytes1 = certbus_codec_encode (packet, &size1);
    Certbus__Packet *again = NULL;
    if (certbus_codec_decode (&certbus__packet__descriptor, bytes1, size1, CERTBUS_MAX_PACKET,
                              CERTBUS_MAX_REPEATED, (void **) &again)
        != CERTBUS_OK)
        __builtin_trap ();
    if (again->body_case != packet->body_case)
        __builtin_trap ();
    uint8_t *bytes2 = certbus_codec_encode (again, &size2);
    if (size1 != size2 || memcmp (bytes1, bytes2, size1) != 0)
        __builtin_trap ();
    free (bytes1);
    free (bytes2);
    certbus_codec_free (again);
    certbus_codec_free (packet);
    return 0;
}
