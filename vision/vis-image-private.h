/* vis-image-private.h: internals of vis-image.c that the tests reach. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "vis-image.h"

/* Sets *err (if err is not NULL) to a malloc'd message and returns status. */
int _vis_fail(char **err, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The orientation (1..8) in an EXIF block (a TIFF header and IFD0, with or
 * without the "Exif\0\0" prefix); 1 when absent or malformed. Every offset
 * is checked against n. */
int vis_exif_orientation(const uint8_t *exif, size_t n);

/* Turns img upright for EXIF orientation 1..8 (anything else: unchanged).
 * Returns 0 or KERN_E_NOMEM (img untouched). */
int vis_image_orient(vis_image *img, int orientation);
