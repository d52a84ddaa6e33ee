// Unicode classes, UTF-8 repair and the pre-tokenizer split, checked against hand-derived
// expectations from the regex and against Python's bytes.decode("utf-8", "replace").
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "models/whisper/bpe_byte_level.hpp"
#include "models/whisper/bpe_pretokenize.hpp"
#include "models/whisper/unicode_categories.hpp"
#include "models/whisper/unicode_utf8.hpp"

namespace earshot::test {
namespace {

namespace uc = models::whisper::unicode;
namespace bpe = models::whisper::bpe;

TEST(WhisperUnicode, Categories) {
  for (char32_t c : {U'a', U'Z', U'é', U'ß', U'中', U'ㄱ', U'한', U'ا', U'ª'}) {
    EXPECT_TRUE(uc::is_letter(c)) << static_cast<unsigned>(c);
  }
  for (char32_t c : {U'0', U'٣', U'½', U'Ⅻ', U'²'}) {
    EXPECT_TRUE(uc::is_number(c)) << static_cast<unsigned>(c);
    EXPECT_FALSE(uc::is_letter(c));
  }
  for (char32_t c : {U'♪', U'—', U'😀', U'。', U'\'', U'_', U'\u0301'}) {
    EXPECT_FALSE(uc::is_letter(c)) << static_cast<unsigned>(c);
    EXPECT_FALSE(uc::is_number(c)) << static_cast<unsigned>(c);
    EXPECT_FALSE(uc::is_whitespace(c)) << static_cast<unsigned>(c);
  }
  for (char32_t c :
       {U' ', U'\t', U'\n', U'\r', U'\u000B', U'\u0085', U'\u00A0', U'\u2003', U'\u3000'}) {
    EXPECT_TRUE(uc::is_whitespace(c)) << static_cast<unsigned>(c);
  }
  EXPECT_FALSE(uc::is_whitespace(U'\u200B'));  // zero-width space is not White_Space
  EXPECT_FALSE(uc::is_letter(0x10FFFF));
}

std::string repaired(const std::string& bytes) {
  std::string out;
  uc::append_utf8_replacing_invalid(bytes, out);
  return out;
}

TEST(WhisperUnicode, ReplacementMatchesPython) {
  const std::string r = "\xef\xbf\xbd";  // U+FFFD
  // Expected values: Python 3.12 bytes.decode("utf-8", "replace").
  EXPECT_EQ(repaired("\xe4\xb8"), r);
  EXPECT_EQ(repaired("a\xe4\xb8"
                     "b"),
            "a" + r + "b");
  EXPECT_EQ(repaired("\xed\xa0\x80"), r + r + r);          // surrogate
  EXPECT_EQ(repaired("\xc0\xaf"), r + r);                  // overlong
  EXPECT_EQ(repaired("\xf4\x90\x80\x80"), r + r + r + r);  // above U+10FFFF
  EXPECT_EQ(repaired("\xe0\x80\xaf"), r + r + r);
  EXPECT_EQ(repaired("\xf0\x9f\x98"), r);
  EXPECT_EQ(repaired("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");
  EXPECT_EQ(repaired("\x80\x80"), r + r);
  EXPECT_EQ(repaired("\xe4\xb8\xad\xe4"), "\xe4\xb8\xad" + r);
  EXPECT_EQ(repaired("\xff"), r);
}

TEST(WhisperUnicode, IncompleteTail) {
  EXPECT_EQ(uc::incomplete_utf8_tail(""), 0u);
  EXPECT_EQ(uc::incomplete_utf8_tail("abc"), 0u);
  EXPECT_EQ(uc::incomplete_utf8_tail("a\xe4"), 1u);
  EXPECT_EQ(uc::incomplete_utf8_tail("a\xe4\xb8"), 2u);
  EXPECT_EQ(uc::incomplete_utf8_tail("a\xe4\xb8\xad"), 0u);
  EXPECT_EQ(uc::incomplete_utf8_tail("\xf0\x9f\x98"), 3u);
  EXPECT_EQ(uc::incomplete_utf8_tail("\xe4\xff"), 0u);  // already ill-formed: nothing to wait for
  EXPECT_EQ(uc::incomplete_utf8_tail("\xed\xa0"), 0u);  // a surrogate can never complete
  EXPECT_EQ(uc::incomplete_utf8_tail("\x80"), 0u);
}

TEST(WhisperByteLevel, AlphabetIsABijection) {
  EXPECT_EQ(bpe::byte_to_char(' '), U'Ġ');
  EXPECT_EQ(bpe::byte_to_char('\n'), U'Ċ');
  EXPECT_EQ(bpe::byte_to_char('A'), U'A');
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  const std::string spelled = bpe::bytes_to_byte_level(all);
  EXPECT_EQ(bpe::byte_level_to_bytes(spelled), all);
  EXPECT_FALSE(bpe::byte_level_to_bytes(" ").has_value());  // a raw space is not in the alphabet
  EXPECT_FALSE(bpe::byte_level_to_bytes("中").has_value());
  EXPECT_FALSE(bpe::byte_level_to_bytes("\xc4").has_value());  // not UTF-8
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string_view> views;
  bpe::pretokenize(text, views);
  return {views.begin(), views.end()};
}

using Pieces = std::vector<std::string>;

TEST(WhisperPretokenize, MatchesTheRegexByHand) {
  EXPECT_EQ(split("Hello world"), (Pieces{"Hello", " world"}));
  EXPECT_EQ(split("a  b"), (Pieces{"a", " ", " b"}));        // \s+(?!\S) leaves one space
  EXPECT_EQ(split("a \tb"), (Pieces{"a", " ", "\t", "b"}));  // a tab is no word prefix
  EXPECT_EQ(split("x   "), (Pieces{"x", "   "}));            // trailing run stays whole
  EXPECT_EQ(split("it's we'll they've I'M"),
            (Pieces{"it", "'s", " we", "'ll", " they", "'ve", " I", "'", "M"}));
  EXPECT_EQ(split("''s"), (Pieces{"''", "s"}));
  EXPECT_EQ(split(" 123abc!?"), (Pieces{" 123", "abc", "!?"}));
  EXPECT_EQ(split("line1\nline2"), (Pieces{"line", "1", "\n", "line", "2"}));
  EXPECT_EQ(split("a\n\n b"), (Pieces{"a", "\n\n", " b"}));
  EXPECT_EQ(split("Ärger 中文：你好"), (Pieces{"Ärger", " 中文", "：", "你好"}));
  EXPECT_EQ(split("\u3000x"), (Pieces{"\u3000", "x"}));  // only U+0020 prefixes a word
  EXPECT_EQ(split("♪ la"), (Pieces{"♪", " la"}));
  EXPECT_EQ(split(" "), (Pieces{" "}));
  EXPECT_EQ(split("a\xff"
                  "b"),
            (Pieces{"a", "\xff", "b"}));
  EXPECT_TRUE(split("").empty());
}

}  // namespace
}  // namespace earshot::test
