/* vis-info.c: what this build of the vision library can do. */
#include <gdk-pixbuf/gdk-pixbuf.h>

#include "vis.h"

const char *
vis_build_info(void)
{
  return "vision: images JPEG, PNG, GIF, BMP, TIFF (gdk-pixbuf " GDK_PIXBUF_VERSION "), WebP (libwebp); "
         "CLIP preprocessing; CLIP ViT tower with LLaVA MLP or linear projector (mmproj GGUF, Hugging Face)";
}
