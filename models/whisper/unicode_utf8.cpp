#include "models/whisper/unicode_utf8.hpp"

namespace earshot::models::whisper::unicode {

namespace {

struct LeadByte {
  int length;               // total sequence length, 0 if the byte cannot start one
  unsigned char second_lo;  // allowed range of the second byte (excludes overlongs,
  unsigned char second_hi;  // surrogates and code points above U+10FFFF)
};

LeadByte classify_lead(unsigned char b) {
  if (b < 0x80) return {1, 0, 0};
  if (b < 0xC2) return {0, 0, 0};
  if (b < 0xE0) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};
  if (b < 0xF0) return {3, 0x80, 0xBF};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b < 0xF4) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};
}

}  // namespace

Utf8Step decode_utf8_step(std::string_view bytes, std::size_t pos) {
  const auto lead = static_cast<unsigned char>(bytes[pos]);
  const LeadByte info = classify_lead(lead);
  if (info.length == 1) return {lead, 1, Utf8Status::kValid};
  if (info.length == 0) return {kReplacementCharacter, 1, Utf8Status::kInvalid};

  char32_t cp = lead & (0xFF >> (info.length + 1));
  std::size_t used = 1;
  for (; used < static_cast<std::size_t>(info.length); ++used) {
    if (pos + used >= bytes.size()) return {kReplacementCharacter, used, Utf8Status::kTruncated};
    const auto b = static_cast<unsigned char>(bytes[pos + used]);
    const unsigned char lo = used == 1 ? info.second_lo : 0x80;
    const unsigned char hi = used == 1 ? info.second_hi : 0xBF;
    if (b < lo || b > hi) return {kReplacementCharacter, used, Utf8Status::kInvalid};
    cp = (cp << 6) | (b & 0x3F);
  }
  return {cp, used, Utf8Status::kValid};
}

void append_utf8(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

void append_utf8_replacing_invalid(std::string_view bytes, std::string& out) {
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    const Utf8Step step = decode_utf8_step(bytes, pos);
    if (step.status == Utf8Status::kValid) {
      out.append(bytes.substr(pos, step.length));
    } else {
      append_utf8(kReplacementCharacter, out);
    }
    pos += step.length;
  }
}

std::size_t incomplete_utf8_tail(std::string_view bytes) {
  // A sequence is at most 4 bytes long, so only a lead byte among the last 3 can start an
  // incomplete one.
  const std::size_t n = bytes.size();
  for (std::size_t back = 1; back <= 3 && back <= n; ++back) {
    const std::size_t pos = n - back;
    const auto b = static_cast<unsigned char>(bytes[pos]);
    if ((b & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    const Utf8Step step = decode_utf8_step(bytes, pos);
    return step.status == Utf8Status::kTruncated ? back : 0;
  }
  return 0;
}

}  // namespace earshot::models::whisper::unicode
