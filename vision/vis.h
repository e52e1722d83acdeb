/* vis.h: public header of the vision/ engine library.
 *
 * Image decode and preprocessing, the CLIP vision tower and projectors.
 * Never includes GTK; errors are kern_status codes with a message (see kern-error.h).
 */
#pragma once

#include "kern-error.h"

/* One line naming what this build of the vision/ library supports
 * (image decoders, CLIP vision tower); static storage, never NULL. */
const char *vis_build_info(void);
