#include "models/whisper/unicode_categories.hpp"

#include <algorithm>

namespace earshot::models::whisper::unicode {

namespace {

bool in_ranges(std::span<const CodePointRange> ranges, char32_t cp) {
  // First range whose end is >= cp; cp is inside iff that range also starts at or before it.
  auto it =
      std::lower_bound(ranges.begin(), ranges.end(), cp,
                       [](const CodePointRange& r, char32_t value) { return r.last < value; });
  return it != ranges.end() && it->first <= cp;
}

}  // namespace

bool is_letter(char32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
  return in_ranges(letter_ranges(), cp);
}

bool is_number(char32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  return in_ranges(number_ranges(), cp);
}

bool is_whitespace(char32_t cp) {
  switch (cp) {
    case 0x09:
    case 0x0A:
    case 0x0B:
    case 0x0C:
    case 0x0D:
    case 0x20:
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

}  // namespace earshot::models::whisper::unicode
