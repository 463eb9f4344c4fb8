/* share: where the data files (provider templates, examples) live. */
#ifndef BB_SHARE_H
#define BB_SHARE_H

/* The share directory: $BB_SHARE if set; else ../share next to the running
 * binary when that holds a tree of ours (a build tree); else the installed
 * BB_SHAREDIR. Returns a static string. */
const char *bb_share_dir(void);

/* bb_share_dir()/rel, malloc'd. */
char *bb_share_path(const char *rel);

#endif
