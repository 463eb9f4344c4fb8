/* child: merged into proc (lib/proc.h): one spawn implementation for
 * bb-up and bb-sidecar.  Kept so that includers of child.h still build. */
#ifndef BB_CHILD_H
#define BB_CHILD_H

#include "proc.h"

#endif
