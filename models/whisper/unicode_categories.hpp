// The three Unicode character classes the GPT-2 / Whisper pre-tokenizer regex uses:
// \p{L} (letters), \p{N} (numbers) and \s (White_Space). The letter and number tables are
// generated (tools/gen_unicode_tables.py -> unicode_tables.cpp) so no ICU is needed.
#pragma once

#include <span>

namespace earshot::models::whisper::unicode {

struct CodePointRange {
  char32_t first;
  char32_t last;  // inclusive
};

// Sorted, disjoint ranges of general categories L* and N* (from unicode_tables.cpp).
std::span<const CodePointRange> letter_ranges();
std::span<const CodePointRange> number_ranges();
// The Unicode version the tables were generated from (e.g. "14.0.0").
const char* unicode_tables_version();

bool is_letter(char32_t cp);
bool is_number(char32_t cp);
// Unicode White_Space property, which is what \s means in the regex engines tiktoken and
// Hugging Face tokenizers use.
bool is_whitespace(char32_t cp);

}  // namespace earshot::models::whisper::unicode
