// UTF-8 decoding with the "maximal subpart" replacement rule (Unicode ch. 3, also what
// Python's bytes.decode("utf-8", errors="replace") does, and so what openai/whisper's
// tokenizer returns for byte sequences that are not valid UTF-8).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace earshot::models::whisper::unicode {

inline constexpr char32_t kReplacementCharacter = 0xFFFD;

enum class Utf8Status {
  kValid,      // a complete, well-formed code point
  kInvalid,    // an ill-formed maximal subpart: replace it with one U+FFFD
  kTruncated,  // a well-formed prefix cut by the end of the input (may complete later)
};

struct Utf8Step {
  char32_t code_point;  // kReplacementCharacter unless kValid
  std::size_t length;   // bytes consumed, >= 1
  Utf8Status status;
};

// Decodes the code point starting at bytes[pos] (pos < bytes.size()).
Utf8Step decode_utf8_step(std::string_view bytes, std::size_t pos);

// Appends bytes to out, each ill-formed subpart (including a truncated tail) replaced by
// U+FFFD encoded in UTF-8.
void append_utf8_replacing_invalid(std::string_view bytes, std::string& out);

// Length of the trailing well-formed-but-incomplete sequence of bytes (0 to 3): the bytes a
// streaming decoder must hold back until the next token completes them.
std::size_t incomplete_utf8_tail(std::string_view bytes);

void append_utf8(char32_t code_point, std::string& out);

}  // namespace earshot::models::whisper::unicode
