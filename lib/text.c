/*  text.c - UTF-8 and control-character checks, the string builder, and
    escaping text for JSON and for terminals
    SPDX-License-Identifier: MPL-2.0
*/
#include "certbus.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool
certbus_utf8_valid (const char *s, size_t max_len)
{
    const unsigned char *p = (const unsigned char *) s;
    size_t len = 0;
    while (*p) {
        size_t extra;
        uint32_t cp;
        if (*p < 0x80) {
            extra = 0;
            cp = *p;
        }
        else if ((*p & 0xE0) == 0xC0) {
            extra = 1;
            cp = *p & 0x1F;
        }
        else if ((*p & 0xF0) == 0xE0) {
            extra = 2;
            cp = *p & 0x0F;
        }
        else if ((*p & 0xF8) == 0xF0) {
            extra = 3;
            cp = *p & 0x07;
        }
        else
            return false;
        for (size_t i = 1; i <= extra; i++) {
            if ((p [i] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (p [i] & 0x3F);
        }
        //  overlong forms, surrogates and values past U+10FFFF
        if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000)
            || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        p += extra + 1;
        len += extra + 1;
        if (len > max_len)
            return false;
    }
    return true;
}

bool
certbus_text_has_control (const char *s)
{
    for (const unsigned char *p = (const unsigned char *) (s ? s : ""); *p; p++)
        if (*p < 0x20 || *p == 0x7f || (p [0] == 0xc2 && p [1] >= 0x80 && p [1] <= 0x9f))
            return true;
    return false;
}

void
certbus_sb_printf (certbus_sb_t *sb, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    va_list copy;
    va_copy (copy, args);
    int need = vsnprintf (NULL, 0, format, copy);
    va_end (copy);
    if (need < 0) {
        va_end (args);
        return;
    }
    if (sb->len + (size_t) need + 1 > sb->cap) {
        size_t cap = sb->cap ? sb->cap : 256;
        while (cap < sb->len + (size_t) need + 1)
            cap *= 2;
        sb->data = realloc (sb->data, cap);
        if (!sb->data)
            abort ();
        sb->cap = cap;
    }
    vsnprintf (sb->data + sb->len, sb->cap - sb->len, format, args);
    sb->len += (size_t) need;
    va_end (args);
}

//  The length of the valid UTF-8 sequence at p (at most left bytes), or 0.
static size_t
s_utf8_len (const unsigned char *p, size_t left);

void
certbus_sb_json_str (certbus_sb_t *sb, const char *s)
{
    const unsigned char *p = (const unsigned char *) (s ? s : "");
    size_t size = strlen ((const char *) p);
    certbus_sb_printf (sb, "\"");
    for (size_t at = 0; at < size;) {
        //  A run of plain printable ASCII goes in one piece
        size_t run = 0;
        while (at + run < size && p [at + run] >= 0x20 && p [at + run] < 0x7f && p [at + run] != '"'
               && p [at + run] != '\\')
            run++;
        if (run) {
            certbus_sb_printf (sb, "%.*s", (int) run, (const char *) p + at);
            at += run;
            continue;
        }
        size_t len = s_utf8_len (p + at, size - at);
        if (len == 1 && (p [at] == '"' || p [at] == '\\'))
            certbus_sb_printf (sb, "\\%c", p [at]);
        else if (len == 1 && p [at] == '\n')
            certbus_sb_printf (sb, "\\n");
        else if (len == 1 && (p [at] < 0x20 || p [at] == 0x7f))
            certbus_sb_printf (sb, "\\u%04x", p [at]);
        else if (len == 2 && p [at] == 0xc2 && p [at + 1] < 0xa0)
            certbus_sb_printf (sb, "\\u%04x", p [at + 1]); //  C1 controls
        else if (len == 0) {
            certbus_sb_printf (sb, "\\ufffd"); //  not UTF-8: JSON cannot carry it
            len = 1;
        }
        else
            certbus_sb_printf (sb, "%.*s", (int) len, (const char *) p + at);
        at += len;
    }
    certbus_sb_printf (sb, "\"");
}

//  The length of the valid UTF-8 sequence at p (at most left bytes), or 0.
static size_t
s_utf8_len (const unsigned char *p, size_t left)
{
    size_t len = p [0] < 0x80             ? 1
                 : (p [0] & 0xe0) == 0xc0 ? 2
                 : (p [0] & 0xf0) == 0xe0 ? 3
                 : (p [0] & 0xf8) == 0xf0 ? 4
                                          : 0;
    if (len == 0 || len > left || (len == 2 && p [0] < 0xc2))
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((p [i] & 0xc0) != 0x80)
            return 0;
    if (len == 3 && ((p [0] == 0xe0 && p [1] < 0xa0) || (p [0] == 0xed && p [1] >= 0xa0)))
        return 0; //  overlong, or a surrogate
    if (len == 4
        && ((p [0] == 0xf0 && p [1] < 0x90) || p [0] > 0xf4 || (p [0] == 0xf4 && p [1] >= 0x90)))
        return 0; //  overlong, or above U+10FFFF
    return len;
}

void
certbus_sb_term (certbus_sb_t *sb, const char *s, size_t size, bool multiline)
{
    const unsigned char *p = (const unsigned char *) (s ? s : "");
    if (!s)
        size = 0;
    certbus_sb_printf (sb, "%s", ""); //  an empty string is still a string
    for (size_t at = 0; at < size;) {
        size_t len = s_utf8_len (p + at, size - at);
        if (len == 1 && multiline && (p [at] == '\n' || p [at] == '\t'))
            certbus_sb_printf (sb, "%c", p [at]);
        else if (len == 1 && (p [at] < 0x20 || p [at] == 0x7f))
            certbus_sb_printf (sb, "\\x%02x", p [at]);
        else if (len == 1 && p [at] == '\\')
            certbus_sb_printf (sb, "\\\\");
        else if (len == 2 && p [at] == 0xc2 && p [at + 1] < 0xa0)
            certbus_sb_printf (sb, "\\u%04x", p [at + 1]); //  C1 controls
        else if (len == 0) {
            certbus_sb_printf (sb, "\\x%02x", p [at]);
            len = 1;
        }
        else
            certbus_sb_printf (sb, "%.*s", (int) len, (const char *) p + at);
        at += len;
    }
}

char *
certbus_term_escape (const char *s)
{
    certbus_sb_t sb = {0};
    certbus_sb_term (&sb, s, s ? strlen (s) : 0, false);
    return sb.data;
}

void
certbus_sb_json_field (certbus_sb_t *sb, const char *name, const char *value)
{
    certbus_sb_printf (sb, ",\"%s\":", name);
    certbus_sb_json_str (sb, value);
}

void
certbus_sb_free (certbus_sb_t *sb)
{
    free (sb->data);
    sb->data = NULL;
    sb->len = sb->cap = 0;
}

long long
certbus_json_number (const char *json, const char *key)
{
    char pattern [64];
    snprintf (pattern, sizeof pattern, "\"%s\":", key);
    const char *at = strstr (json, pattern);
    return at ? atoll (at + strlen (pattern)) : -1;
}

void
certbus_json_string (const char *json, const char *key, char *out, size_t out_size)
{
    char pattern [64];
    snprintf (pattern, sizeof pattern, "\"%s\":\"", key);
    const char *at = strstr (json, pattern);
    if (!at) {
        snprintf (out, out_size, "%s", "");
        return;
    }
    at += strlen (pattern);
    size_t n = 0;
    while (at [n] && at [n] != '"') {
        if (at [n] == '\\' && at [n + 1])
            n++;
        n++;
    }
    snprintf (out, out_size, "%.*s", (int) n, at);
}
