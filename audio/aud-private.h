/* aud-private.h: helpers shared inside audio/. Not installed, not for callers. */
#pragma once

/* A malloc'd formatted string (messages for char **err); NULL out of memory. */
char *_aud_strdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
