#include "models/whisper/bpe_pretokenize.hpp"

#include <cstddef>

#include "models/whisper/unicode_categories.hpp"
#include "models/whisper/unicode_utf8.hpp"

namespace earshot::models::whisper::bpe {

namespace {

enum class CharClass { kLetter, kNumber, kSpace, kOther };

struct Char {
  CharClass cls;
  std::size_t length;   // bytes
  bool is_ascii_space;  // exactly U+0020, the optional prefix of the word alternatives
};

Char char_at(std::string_view text, std::size_t pos) {
  const auto byte = static_cast<unsigned char>(text[pos]);
  if (byte < 0x80) {  // ASCII fast path: most prompt text
    if ((byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z')) {
      return {CharClass::kLetter, 1, false};
    }
    if (byte >= '0' && byte <= '9') return {CharClass::kNumber, 1, false};
    if (byte == ' ') return {CharClass::kSpace, 1, true};
    if (byte >= 0x09 && byte <= 0x0D) return {CharClass::kSpace, 1, false};
    return {CharClass::kOther, 1, false};
  }
  const unicode::Utf8Step step = unicode::decode_utf8_step(text, pos);
  if (step.status != unicode::Utf8Status::kValid) return {CharClass::kOther, step.length, false};
  const char32_t cp = step.code_point;
  if (unicode::is_letter(cp)) return {CharClass::kLetter, step.length, false};
  if (unicode::is_number(cp)) return {CharClass::kNumber, step.length, false};
  if (unicode::is_whitespace(cp)) return {CharClass::kSpace, step.length, false};
  return {CharClass::kOther, step.length, false};
}

// End of the run of characters of class cls starting at pos.
std::size_t run_end(std::string_view text, std::size_t pos, CharClass cls) {
  while (pos < text.size()) {
    const Char c = char_at(text, pos);
    if (c.cls != cls) break;
    pos += c.length;
  }
  return pos;
}

// Length of a contraction ('s 't 're 've 'm 'll 'd) at pos, or 0.
std::size_t contraction_length(std::string_view text, std::size_t pos) {
  if (text[pos] != '\'' || pos + 1 >= text.size()) return 0;
  const char a = text[pos + 1];
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (pos + 2 >= text.size()) return 0;
  const char b = text[pos + 2];
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

// End of the piece that starts at pos (the first alternative of the regex that matches).
std::size_t piece_end(std::string_view text, std::size_t pos) {
  if (const std::size_t n = contraction_length(text, pos); n > 0) return pos + n;

  const Char first = char_at(text, pos);
  // " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+" with the optional leading space.
  if (first.is_ascii_space && pos + 1 < text.size()) {
    const Char second = char_at(text, pos + 1);
    if (second.cls != CharClass::kSpace) return run_end(text, pos + 1, second.cls);
  }
  if (first.cls != CharClass::kSpace) return run_end(text, pos, first.cls);

  // Whitespace. "\s+(?!\S)" takes the whole run at the end of the text, otherwise the run
  // minus its last character (which is left to prefix the next word if it is a space);
  // "\s+" takes a lone whitespace character that is followed by a non-space.
  std::size_t end = pos;
  std::size_t last_start = pos;
  while (end < text.size()) {
    const Char c = char_at(text, end);
    if (c.cls != CharClass::kSpace) break;
    last_start = end;
    end += c.length;
  }
  if (end == text.size() || last_start == pos) return end;
  return last_start;
}

}  // namespace

void pretokenize(std::string_view text, std::vector<std::string_view>& pieces) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = piece_end(text, pos);
    pieces.push_back(text.substr(pos, end - pos));
    pos = end;
  }
}

}  // namespace earshot::models::whisper::bpe
