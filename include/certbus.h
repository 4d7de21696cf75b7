/*  certbus.h - libcertbus: every public header of the library
    SPDX-License-Identifier: MPL-2.0
*/
#ifndef CERTBUS_H_INCLUDED
#define CERTBUS_H_INCLUDED

#include <assert.h>
#include "certbus/err.h"
#include "certbus/util.h"
#include "certbus/codec.h"
#include "certbus/identity.h"
#include "certbus/cert.h"
#include "certbus/directory.h"
#include "certbus/audience.h"
#include "certbus/envelope.h"
#include "certbus/packet.h"
#include "certbus/merkle.h"
#include "certbus/policy.h"
#include "certbus/treehead.h"
#include "certbus/forward.h"
#include "certbus/control.h"
#include "certbus/proof.h"
#include "certbus/args.h"
#include "certbus/auditrec.h"

#define CERTBUS_VERSION "0.1.0"

#endif
