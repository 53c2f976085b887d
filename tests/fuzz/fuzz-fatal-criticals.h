/* Included by a fuzz target of untrusted JSON, once: GLib criticals and warnings abort, so a json-glib
 * getter called on a member of another type is reported as a crash. */
#pragma once
#include <glib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
    return 0;
}
