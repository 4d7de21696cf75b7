/*  testutil_merkle.c - the shared Merkle corpus for the unit tests: reading
    transparency-dev/merkle's proof vectors and running every file through a check
    SPDX-License-Identifier: MPL-2.0
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"
#include <dirent.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

//  RFC 6962's test tree as Certificate Transparency publishes it
//  (transparency-dev/merkle testonly/constants.go)
const char *const tu_rfc6962_leaves [8] = {"",
                                           "00",
                                           "10",
                                           "2021",
                                           "3031",
                                           "40414243",
                                           "5051525354555657",
                                           "606162636465666768696a6b6c6d6e6f"};

const char *const tu_rfc6962_roots [9]
    = {"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
       "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
       "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
       "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
       "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
       "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
       "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
       "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};

typedef struct {
    const char *p;
    const char *end;
} json_t;

static bool
s_streq (const char *a, const char *b)
{
    return strcmp (a, b) == 0;
}

static void
s_json_space (json_t *json)
{
    while (json->p < json->end
           && (*json->p == ' ' || *json->p == '\n' || *json->p == '\r' || *json->p == '\t'))
        json->p++;
}

static bool
s_json_char (json_t *json, char c)
{
    s_json_space (json);
    if (json->p < json->end && *json->p == c) {
        json->p++;
        return true;
    }
    return false;
}

static bool
s_json_literal (json_t *json, const char *literal)
{
    s_json_space (json);
    size_t len = strlen (literal);
    if ((size_t) (json->end - json->p) < len || memcmp (json->p, literal, len) != 0)
        return false;
    json->p += len;
    return true;
}

//  A string of at most out_size - 1 bytes; only the simple escapes.
static bool
s_json_string (json_t *json, char *out, size_t out_size)
{
    if (!s_json_char (json, '"'))
        return false;
    size_t len = 0;
    while (json->p < json->end && *json->p != '"') {
        char c = *json->p++;
        if ((unsigned char) c < 0x20)
            return false;
        if (c == '\\') {
            if (json->p == json->end)
                return false;
            c = *json->p++;
            if (c != '"' && c != '\\' && c != '/')
                return false;
        }
        if (len + 1 >= out_size)
            return false;
        out [len++] = c;
    }
    if (json->p == json->end)
        return false;
    json->p++;
    out [len] = 0;
    return true;
}

static bool
s_json_uint (json_t *json, uint64_t *out)
{
    s_json_space (json);
    uint64_t value = 0;
    const char *start = json->p;
    while (json->p < json->end && *json->p >= '0' && *json->p <= '9') {
        unsigned digit = (unsigned) (*json->p++ - '0');
        if (value > (UINT64_MAX - digit) / 10)
            return false;
        value = value * 10 + digit;
    }
    *out = value;
    return json->p > start;
}

//  A base64 string into a blob; null is an empty blob.
static bool
s_json_base64 (json_t *json, tu_blob_t *blob)
{
    blob->len = 0;
    if (s_json_literal (json, "null"))
        return true;
    char text [TU_VEC_MAX_BYTES * 2];
    const char *end = NULL;
    if (!s_json_string (json, text, sizeof text))
        return false;
    size_t text_len = strlen (text);
    if (text_len == 0)
        return true;
    return sodium_base642bin (blob->data, sizeof blob->data, text, text_len, NULL, &blob->len, &end,
                              sodium_base64_VARIANT_ORIGINAL)
               == 0
           && end == text + text_len;
}

bool
tu_merkle_vector_parse (const char *text, size_t size, tu_merkle_vector_t *vec)
{
    memset (vec, 0, sizeof *vec);
    //  The number and hash fields, by their JSON key
    const struct {
        const char *key;
        uint64_t *number; //  a number field, or
        tu_blob_t *hash;  //  a hash field
    } fields [] = {
        {"leafIdx", &vec->leaf_index, NULL}, {"treeSize", &vec->tree_size, NULL},
        {"size1", &vec->size1, NULL},        {"size2", &vec->size2, NULL},
        {"root", NULL, &vec->root},          {"leafHash", NULL, &vec->leaf_hash},
        {"root1", NULL, &vec->root1},        {"root2", NULL, &vec->root2},
    };
    json_t json = {text, text + size};
    if (!s_json_char (&json, '{'))
        return false;
    if (s_json_char (&json, '}'))
        return false;
    do {
        char key [32];
        if (!s_json_string (&json, key, sizeof key) || !s_json_char (&json, ':'))
            return false;
        bool ok;
        uint64_t *number = NULL;
        tu_blob_t *hash = NULL;
        for (size_t i = 0; i < sizeof fields / sizeof fields [0]; i++)
            if (s_streq (key, fields [i].key)) {
                number = fields [i].number;
                hash = fields [i].hash;
            }
        if (number)
            ok = s_json_uint (&json, number);
        else if (hash)
            ok = s_json_base64 (&json, hash);
        else if (s_streq (key, "desc"))
            ok = s_json_string (&json, vec->desc, sizeof vec->desc);
        else if (s_streq (key, "wantErr")) {
            vec->has_want_err = true;
            if (s_json_literal (&json, "true"))
                ok = vec->want_err = true;
            else
                ok = s_json_literal (&json, "false");
        }
        else if (s_streq (key, "proof")) {
            ok = true;
            if (!s_json_literal (&json, "null")) {
                ok = s_json_char (&json, '[');
                if (ok && !s_json_char (&json, ']')) {
                    do {
                        ok = vec->proof_count < TU_VEC_MAX_PROOF
                             && s_json_base64 (&json, &vec->proof [vec->proof_count++]);
                    } while (ok && s_json_char (&json, ','));
                    ok = ok && s_json_char (&json, ']');
                }
            }
        }
        else
            ok = false; //  an unknown field: this reader is out of date
        if (!ok)
            return false;
    } while (s_json_char (&json, ','));
    if (!s_json_char (&json, '}'))
        return false;
    s_json_space (&json);
    return json.p == json.end && vec->has_want_err;
}

//  Collects *.json below dir; the corpus is a few levels deep at most.
static void
s_list_json (tu_path_list_t *list, const char *dir, int depth)
{
    assert_true (depth < 8);
    DIR *handle = opendir (dir);
    assert_non_null (handle);
    struct dirent *entry;
    while ((entry = readdir (handle))) {
        if (entry->d_name [0] == '.')
            continue;
        char path [1024];
        int len = snprintf (path, sizeof path, "%s/%s", dir, entry->d_name);
        assert_true (len > 0 && (size_t) len < sizeof path);
        struct stat st;
        assert_int_equal (stat (path, &st), 0);
        if (S_ISDIR (st.st_mode))
            s_list_json (list, path, depth + 1);
        else if (S_ISREG (st.st_mode) && len > 5 && s_streq (path + len - 5, ".json")) {
            if (list->count == list->cap) {
                list->cap = list->cap ? list->cap * 2 : 64;
                list->paths = realloc (list->paths, list->cap * sizeof (char *));
                assert_non_null (list->paths);
            }
            list->paths [list->count] = strdup (path);
            assert_non_null (list->paths [list->count]);
            list->count++;
        }
    }
    closedir (handle);
}

static int
s_compare_paths (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

bool
tu_merkle_corpus_dir (char *out, size_t size, const char *kind)
{
    const char *shared = getenv ("CERTBUS_SHARED");
    if (shared && *shared)
        snprintf (out, size, "%s/corpus/merkle/%s", shared, kind);
    else
        snprintf (out, size, "../shared/corpus/merkle/%s", kind);
    struct stat st;
    return stat (out, &st) == 0 && S_ISDIR (st.st_mode);
}

void
tu_json_files (tu_path_list_t *list, const char *dir)
{
    s_list_json (list, dir, 0);
    qsort (list->paths, list->count, sizeof (char *), s_compare_paths);
}

void
tu_path_list_free (tu_path_list_t *list)
{
    for (size_t i = 0; i < list->count; i++)
        free (list->paths [i]);
    free (list->paths);
    memset (list, 0, sizeof *list);
}

void
tu_merkle_corpus_run (const char *kind, tu_merkle_check_fn *check, void *arg,
                      tu_merkle_tally_t *tally)
{
    bool inclusion = strcmp (kind, "inclusion") == 0;
    memset (tally, 0, sizeof *tally);
    if (!tu_merkle_corpus_dir (tally->dir, sizeof tally->dir, kind)) {
        printf ("skipped: shared corpus not present (no %s)\n", tally->dir);
        skip ();
    }
    tu_path_list_t list = {NULL, 0, 0};
    tu_json_files (&list, tally->dir);
    tu_merkle_vector_t *vec = malloc (sizeof *vec);
    assert_non_null (vec);
    for (size_t i = 0; i < list.count; i++) {
        uint8_t *text = NULL;
        size_t size = 0;
        assert_int_equal (certbus_file_read (list.paths [i], TU_VEC_MAX_FILE, &text, &size), 0);
        bool parsed = tu_merkle_vector_parse ((const char *) text, size, vec);
        free (text);
        if (!parsed) {
            printf ("FAIL %s: cannot parse\n", list.paths [i]);
            tally->wrong++;
            continue;
        }
        certbus_err_t rc = CERTBUS_E_FIELD;
        certbus_reason_clear ();
        if (!check (vec, inclusion, &rc, arg)) {
            tally->unfit++;
            continue;
        }
        if (rc == CERTBUS_OK)
            tally->accepted++;
        else
            tally->rejected++;
        if ((rc != CERTBUS_OK) != vec->want_err) {
            printf ("FAIL %s (%s): wantErr=%s but got %s: %s\n", list.paths [i], vec->desc,
                    vec->want_err ? "true" : "false", certbus_err_name (rc), certbus_reason ());
            tally->wrong++;
        }
    }
    tally->files = list.count;
    tu_path_list_free (&list);
    free (vec);
}
