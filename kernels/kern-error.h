/* kern-error.h: the error codes every engine library returns.
 *
 * Engine functions return 0 on success or one of these negative codes; the
 * human-readable message travels beside it (a context's errmsg or a caller's
 * buffer), never on stderr. Nothing in the engine calls exit() or abort().
 */
#pragma once

typedef enum {
  KERN_OK = 0,
  KERN_E_INVAL = -1,       /* bad argument from the caller */
  KERN_E_NOMEM = -2,       /* host allocation failed */
  KERN_E_IO = -3,          /* a file could not be read or written */
  KERN_E_FORMAT = -4,      /* a file is malformed */
  KERN_E_UNSUPPORTED = -5, /* valid, but this build or device cannot do it */
  KERN_E_DEVICE = -6,      /* a GPU call failed (driver, launch, out of VRAM) */
  KERN_E_ABORTED = -7,     /* the caller's abort callback said stop */
} kern_status;

/* A short English name for a status code; never NULL. */
const char *kern_strerror(int status);
