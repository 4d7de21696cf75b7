/*  test_util.c - unit tests of lib/util.c: JSON strings and terminal text
    that a forged value cannot break, and file writes that follow no
    planted symbolic link
    SPDX-License-Identifier: MPL-2.0
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

//  ---------------------------------------------------------------------------
//  JSON strings

static char *
s_json (const char *s)
{
    certbus_sb_t sb = {0};
    certbus_sb_json_str (&sb, s);
    return sb.data;
}

static void
s_assert_json (const char *in, const char *want)
{
    char *got = s_json (in);
    if (strcmp (got, want) != 0)
        fail_msg ("json of '%s': got %s, expected %s", in, got, want);
    free (got);
}

static void
test_json_escapes_every_control (void **state)
{
    (void) state;
    s_assert_json ("plain text", "\"plain text\"");
    s_assert_json (NULL, "\"\"");
    //  Breaking out of the string: quotes and backslashes stay inside
    s_assert_json ("x\",\"forged\":\"1", "\"x\\\",\\\"forged\\\":\\\"1\"");
    s_assert_json ("back\\slash\\", "\"back\\\\slash\\\\\"");
    //  C0: newline, escape, tab, bell
    s_assert_json ("a\nb", "\"a\\nb\"");
    s_assert_json ("\x1b[2J\t\x07", "\"\\u001b[2J\\u0009\\u0007\"");
    //  DEL and the C1 range (U+0080..U+009F, two bytes each in UTF-8)
    s_assert_json ("del\x7f", "\"del\\u007f\"");
    s_assert_json ("\xc2\x80 \xc2\x85 \xc2\x9b \xc2\x9f", "\"\\u0080 \\u0085 \\u009b \\u009f\"");
    //  U+00A0 and above pass as they are
    s_assert_json ("\xc2\xa0 caf\xc3\xa9 \xe2\x80\x94", "\"\xc2\xa0 caf\xc3\xa9 \xe2\x80\x94\"");
    //  Bytes that are not UTF-8 become U+FFFD: the output stays JSON
    s_assert_json ("bad \xff \xc2", "\"bad \\ufffd \\ufffd\"");
    //  Every byte from 0x01 to 0xff: the result holds no raw control
    char all [256];
    for (int i = 1; i < 256; i++)
        all [i - 1] = (char) i;
    all [255] = 0;
    char *json = s_json (all);
    assert_false (certbus_text_has_control (json));
    assert_true (certbus_utf8_valid (json, 1 << 20));
    free (json);
}

static void
test_term_escape (void **state)
{
    (void) state;
    char *text = certbus_term_escape ("org\x1b[31m\nforged\x7f\xc2\x9b");
    assert_string_equal (text, "org\\x1b[31m\\x0aforged\\x7f\\u009b");
    free (text);
    text = certbus_term_escape (NULL);
    assert_string_equal (text, "");
    free (text);
    //  The control test the header rules use
    assert_true (certbus_text_has_control ("a\tb"));
    assert_true (certbus_text_has_control ("\x7f"));
    assert_true (certbus_text_has_control ("x\xc2\x80"));
    assert_false (certbus_text_has_control ("x\xc2\xa0 \xc3\x80"));
    assert_false (certbus_text_has_control (""));
    assert_false (certbus_text_has_control (NULL));
}

//  ---------------------------------------------------------------------------
//  certbus_file_write

static void
s_write_text (const char *path, const char *text, mode_t mode)
{
    FILE *file = fopen (path, "w");
    assert_non_null (file);
    assert_int_equal (fputs (text, file) >= 0, 1);
    assert_int_equal (fclose (file), 0);
    assert_int_equal (chmod (path, mode), 0);
}

static mode_t
s_mode (const char *path)
{
    struct stat st;
    assert_int_equal (lstat (path, &st), 0);
    return st.st_mode;
}

//  Asserts the victim file outside the folder is untouched
static void
s_assert_victim (const char *victim)
{
    size_t size;
    uint8_t *bytes = tu_read_file (victim, &size);
    assert_int_equal (size, 7);
    assert_memory_equal (bytes, "victim\n", 7);
    free (bytes);
    assert_int_equal (s_mode (victim) & 07777, 0640);
}

//  Entries in folder whose names start with prefix
static size_t
s_count (const char *folder, const char *prefix)
{
    DIR *dir = opendir (folder);
    assert_non_null (dir);
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir (dir)))
        if (strncmp (entry->d_name, prefix, strlen (prefix)) == 0)
            count++;
    closedir (dir);
    return count;
}

//  The temporary names the old code used (PATH.tmp and five digits of the
//  process id) are planted as symbolic links to a victim, for every id: a
//  write never follows them, and leaves them and the victim as they were
static void
test_file_write_ignores_planted_links (void **state)
{
    const char *tmp = *state;
    char *victim = tu_path (tmp, "victim");
    s_write_text (victim, "victim\n", 0640);
    char *folder = tu_path (tmp, "folder");
    assert_int_equal (mkdir (folder, 0700), 0);
    char *target = tu_path (folder, "council.pub");
    size_t len = strlen (target) + 16;
    char *name = malloc (len);
    assert_non_null (name);
    for (int pid = 0; pid < 100000; pid++) {
        snprintf (name, len, "%s.tmp%05d", target, pid);
        assert_int_equal (symlink (victim, name), 0);
    }
    assert_int_equal (certbus_file_write (target, "new\n", 4, 0644), 0);
    s_assert_victim (victim);
    size_t size;
    uint8_t *bytes = tu_read_file (target, &size);
    assert_int_equal (size, 4);
    assert_memory_equal (bytes, "new\n", 4);
    free (bytes);
    assert_true (S_ISREG (s_mode (target)));
    assert_int_equal (s_mode (target) & 07777, 0644);
    //  Every planted link is still there, and no temporary file is left
    assert_int_equal (s_count (folder, "council.pub.tmp"), 100000);
    assert_int_equal (s_count (folder, "council.pub."), 100000);
    free (name);
    free (target);
    free (folder);
    free (victim);
}

//  A symbolic link at the target itself is replaced by the new file, not
//  followed: the file it points to keeps its content and mode
static void
test_file_write_replaces_link_at_target (void **state)
{
    const char *tmp = *state;
    char *victim = tu_path (tmp, "victim");
    s_write_text (victim, "victim\n", 0640);
    char *target = tu_path (tmp, "cert");
    assert_int_equal (symlink (victim, target), 0);
    assert_int_equal (certbus_file_write (target, "certificate", 11, 0600), 0);
    s_assert_victim (victim);
    assert_true (S_ISREG (s_mode (target)));
    assert_int_equal (s_mode (target) & 07777, 0600);
    //  The neighbour: a dangling link at the target, to a file that does
    //  not exist yet, is not followed to create it
    char *absent = tu_path (tmp, "absent");
    char *dangling = tu_path (tmp, "dangling");
    assert_int_equal (symlink (absent, dangling), 0);
    assert_int_equal (certbus_file_write (dangling, "x", 1, 0644), 0);
    assert_int_equal (access (absent, F_OK), -1);
    assert_true (S_ISREG (s_mode (dangling)));
    free (absent);
    free (dangling);
    free (target);
    free (victim);
}

//  The mode is the one asked for whatever the umask, and a failed write
//  leaves no temporary file behind
static void
test_file_write_mode_and_failure (void **state)
{
    const char *tmp = *state;
    char *path = tu_path (tmp, "file");
    mode_t old = umask (0077);
    assert_int_equal (certbus_file_write (path, "a", 1, 0644), 0);
    assert_int_equal (s_mode (path) & 07777, 0644);
    umask (0);
    assert_int_equal (certbus_file_write (path, "b", 1, 0600), 0);
    assert_int_equal (s_mode (path) & 07777, 0600);
    umask (old);
    //  The target is a folder: the rename fails, the temporary file goes
    char *sub = tu_path (tmp, "sub");
    assert_int_equal (mkdir (sub, 0700), 0);
    certbus_reason_clear ();
    assert_int_equal (certbus_file_write (sub, "c", 1, 0644), -1);
    assert_non_null (strstr (certbus_reason (), "cannot rename"));
    assert_int_equal (s_count (tmp, "sub."), 0);
    //  A folder that does not exist: nothing is created
    char *missing = tu_path (tmp, "missing/file");
    assert_int_equal (certbus_file_write (missing, "d", 1, 0644), -1);
    assert_non_null (strstr (certbus_reason (), "cannot create"));
    free (missing);
    free (sub);
    free (path);
}

int
main (void)
{
    certbus_init ();
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_json_escapes_every_control),
        cmocka_unit_test (test_term_escape),
        tu_unit_test_in_tmpdir (test_file_write_ignores_planted_links),
        tu_unit_test_in_tmpdir (test_file_write_replaces_link_at_target),
        tu_unit_test_in_tmpdir (test_file_write_mode_and_failure),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
