/* prereceive: the mirror's pre-receive hook.  Scans only the commits a
 * push introduces (`NEW... --not --all`: refs enter the mirror only by an
 * upstream fetch or an already-scanned push), refuses the whole push on a
 * finding, and otherwise forwards it upstream with the gate's identity;
 * an upstream refusal refuses the push too. */
#ifndef BB_PRERECEIVE_H
#define BB_PRERECEIVE_H

#include <stdio.h>

/* The hook script that runs `EXE hook pre-receive`, malloc'd. */
char *gg_hook_script(const char *exe);

/* Run the hook: stdin holds "OLD NEW REF" lines; messages for the pusher
 * go to stderr (receive-pack relays them as "remote: ...").  Returns the
 * exit status: 0 accept, 1 refuse. */
int gg_pre_receive(void);

/* Scan `git log -p` or `git diff` text with the built-in rules; findings
 * go to stderr as the hook words them.  Returns 1 if any, else 0. */
int gg_scan_stream(FILE *in);

#endif
