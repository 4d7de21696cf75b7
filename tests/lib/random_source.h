/*  random_source.h - a libsodium random source made of one function that
    fills a buffer, for test programs whose keys must come out the same
    SPDX-License-Identifier: MPL-2.0

    Header-only, because the fuzz fixture (tests/fuzz/fixture.c) cannot link
    the cmocka test library; test_vectors.c is the other user. Include it in
    one .c file of a program, after <sodium.h>.
*/
#ifndef CERTBUS_RANDOM_SOURCE_H_INCLUDED
#define CERTBUS_RANDOM_SOURCE_H_INCLUDED

#include <sodium.h>
#include <stdint.h>

//  Fills buf with size bytes; never fails
typedef void (rs_fill_fn) (void *const buf, const size_t size);

static rs_fill_fn *s_rs_fill;  //  the installed source
static const char *s_rs_label; //  its name, for libsodium

static uint32_t
    s_rs_random (void)
{
    uint32_t value;
    s_rs_fill (&value, sizeof value);
    return value;
}

static const char *
    s_rs_name (void)
{
    return s_rs_label;
}

static void
    s_rs_buf (void *const buf, const size_t size)
{
    s_rs_fill (buf, size);
}

static randombytes_implementation s_rs_implementation = {
    .implementation_name = s_rs_name,
    .random = s_rs_random,
    .buf = s_rs_buf,
};

//  Makes fill, called name, the random source of this whole process. Call
//  it before anything initialises libsodium (libsodium asks for that order).
static inline void
    rs_install (rs_fill_fn *fill, const char *name)
{
    s_rs_fill = fill;
    s_rs_label = name;
    randombytes_set_implementation (&s_rs_implementation);
}

#endif
