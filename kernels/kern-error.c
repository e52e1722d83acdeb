/* kern-error.c: names for the engine's status codes. */
#include "kern-error.h"

const char *
kern_strerror(int status)
{
  switch (status) {
  case KERN_OK: return "success";
  case KERN_E_INVAL: return "invalid argument";
  case KERN_E_NOMEM: return "out of memory";
  case KERN_E_IO: return "input/output error";
  case KERN_E_FORMAT: return "malformed file";
  case KERN_E_UNSUPPORTED: return "not supported";
  case KERN_E_DEVICE: return "GPU error";
  case KERN_E_ABORTED: return "aborted";
  default: return "unknown error";
  }
}
