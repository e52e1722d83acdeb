/* kern-unicode.c: Unicode character classes for the tokenizers (binary search
 * over the generated ranges; ASCII answered directly). */
#include "kern-unicode.h"

#include "kern-unicode-tables.h"

#define N_RANGES(a) (sizeof(a) / sizeof(a)[0])

int
kern_unicode_in_ranges(const uint32_t (*r)[2], size_t n, uint32_t cp)
{
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (cp < r[mid][0])
      hi = mid;
    else if (cp > r[mid][1])
      lo = mid + 1;
    else
      return 1;
  }
  return 0;
}

int
kern_unicode_is_space(uint32_t cp)
{
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

int
kern_unicode_is_letter(uint32_t cp)
{
  if (cp < 0x80)
    return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
  return kern_unicode_in_ranges(kern_unicode_letters, N_RANGES(kern_unicode_letters), cp);
}

int
kern_unicode_is_number(uint32_t cp)
{
  if (cp < 0x80)
    return cp >= '0' && cp <= '9';
  return kern_unicode_in_ranges(kern_unicode_numbers, N_RANGES(kern_unicode_numbers), cp);
}

int
kern_unicode_is_punct(uint32_t cp)
{
  return kern_unicode_in_ranges(kern_unicode_punct, N_RANGES(kern_unicode_punct), cp);
}

int
kern_unicode_is_symbol(uint32_t cp)
{
  return kern_unicode_in_ranges(kern_unicode_symbols, N_RANGES(kern_unicode_symbols), cp);
}

int
kern_unicode_is_mark(uint32_t cp)
{
  return kern_unicode_in_ranges(kern_unicode_marks, N_RANGES(kern_unicode_marks), cp);
}

const char *
kern_unicode_version(void)
{
  return KERN_UNICODE_TABLES_VERSION;
}
