/* vis-info.c: what this build of the vision library can do. */
#include <gdk-pixbuf/gdk-pixbuf.h>

#include "vis.h"

const char *
vis_build_info(void)
{
  /* Grows as the CLIP tower lands. */
  return "vision: images JPEG, PNG, GIF, BMP, TIFF (gdk-pixbuf " GDK_PIXBUF_VERSION "), WebP (libwebp); "
         "CLIP preprocessing; CLIP tower not built";
}
