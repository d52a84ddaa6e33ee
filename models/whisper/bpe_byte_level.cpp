#include "models/whisper/bpe_byte_level.hpp"

#include <array>

#include "models/whisper/unicode_utf8.hpp"

namespace earshot::models::whisper::bpe {

namespace {

bool maps_to_itself(unsigned b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct ByteTables {
  std::array<char32_t, 256> to_char{};
  std::array<int, 512> from_char{};  // every alphabet character is below U+0200; -1 if unused

  ByteTables() {
    from_char.fill(-1);
    char32_t next_extra = 0x100;
    for (unsigned b = 0; b < 256; ++b) {
      to_char[b] = maps_to_itself(b) ? static_cast<char32_t>(b) : next_extra++;
      from_char[to_char[b]] = static_cast<int>(b);
    }
  }
};

const ByteTables& tables() {
  static const ByteTables instance;
  return instance;
}

}  // namespace

char32_t byte_to_char(unsigned char b) {
  return tables().to_char[b];
}

std::optional<unsigned char> char_to_byte(char32_t c) {
  if (c >= tables().from_char.size() || tables().from_char[c] < 0) return std::nullopt;
  return static_cast<unsigned char>(tables().from_char[c]);
}

std::string bytes_to_byte_level(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char ch : bytes) unicode::append_utf8(byte_to_char(static_cast<unsigned char>(ch)), out);
  return out;
}

std::optional<std::string> byte_level_to_bytes(std::string_view text) {
  const ByteTables& t = tables();
  std::string out;
  out.reserve(text.size());
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto lead = static_cast<unsigned char>(text[pos]);
    if (lead < 0x80) {  // printable ASCII stands for itself; controls and space are not used
      if (t.from_char[lead] < 0) return std::nullopt;
      out.push_back(static_cast<char>(lead));
      ++pos;
      continue;
    }
    const unicode::Utf8Step step = unicode::decode_utf8_step(text, pos);
    if (step.status != unicode::Utf8Status::kValid || step.code_point >= t.from_char.size() ||
        t.from_char[step.code_point] < 0) {
      return std::nullopt;
    }
    out.push_back(static_cast<char>(t.from_char[step.code_point]));
    pos += step.length;
  }
  return out;
}

}  // namespace earshot::models::whisper::bpe
