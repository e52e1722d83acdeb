/* vis-info.c: what this build of the vision library can do. */
#include "vis.h"

const char *
vis_build_info(void)
{
  /* Grows as image decoding and the CLIP tower land. */
  return "vision: image decoding and CLIP not built";
}
