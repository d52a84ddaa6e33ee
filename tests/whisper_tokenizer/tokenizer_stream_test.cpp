// Streaming decode: characters split across tokens are emitted only once complete, and the
// stream's output equals the one-shot decode.
#include <gtest/gtest.h>

#include "models/whisper/tokenizer_stream.hpp"
#include "models/whisper/unicode_utf8.hpp"
#include "rt/audio_thread_guard.hpp"
#include "tests/whisper_tokenizer/tokenizer_test_support.hpp"

namespace earshot::test {
namespace {

using models::whisper::SpecialTokenText;
using models::whisper::StreamingDecoder;
using models::whisper::Tokenizer;

bool is_complete_utf8(const std::string& text) {
  std::string repaired;
  models::whisper::unicode::append_utf8_replacing_invalid(text, repaired);
  return repaired == text;
}

TEST(WhisperTokenizerStream, SamplesStreamOnlyCompleteCharacters) {
  const Tokenizer& tok = tokenizer_99();
  int tokens_held = 0;
  for (const auto& sample : tokens_json().at("samples")) {
    const auto ids = sample.at("multilingual_ids").get<std::vector<int>>();
    const auto text = sample.at("text").get<std::string>();
    SCOPED_TRACE(text);
    StreamingDecoder stream(tok);
    std::string emitted;
    for (int id : ids) {
      std::string chunk;
      stream.push(id, chunk);
      EXPECT_TRUE(is_complete_utf8(chunk)) << "token " << id;
      if (stream.pending_bytes() > 0) ++tokens_held;
      emitted += chunk;
      // What is out is always a prefix of the final text.
      EXPECT_EQ(text.compare(0, emitted.size(), emitted), 0);
    }
    stream.finish(emitted);
    EXPECT_EQ(emitted, text);
  }
  // The emoji, Chinese and Japanese samples split characters across tokens.
  EXPECT_GT(tokens_held, 3);
}

TEST(WhisperTokenizerStream, SplitCharacterWaitsForItsLastByte) {
  const Tokenizer& tok = tokenizer_99();
  // "😀" (F0 9F 98 80) in the emoji sample: find the tokens and check the hold explicitly.
  const std::vector<int> ids = tok.encode(" 😀!");
  std::string bytes_so_far;
  StreamingDecoder stream(tok);
  std::string out;
  for (int id : ids) {
    stream.push(id, out);
    bytes_so_far += tok.token_bytes(id);
    if (bytes_so_far.size() < 5) {
      EXPECT_EQ(out, bytes_so_far.substr(0, 1)) << "only the space may be out";
    }
  }
  stream.finish(out);
  EXPECT_EQ(out, " 😀!");
  EXPECT_GE(ids.size(), 3u);  // the emoji is more than one token
}

TEST(WhisperTokenizerStream, TimestampsBetweenSplitBytesAreSkipped) {
  const Tokenizer& tok = tokenizer_99();
  const std::vector<int> text_ids = tok.encode("中文测试");
  std::vector<int> ids;
  const int ts = tok.special().timestamp_begin + 25;
  for (int id : text_ids) {
    ids.push_back(ts);
    ids.push_back(id);
  }
  ids.push_back(tok.special().eot);
  for (SpecialTokenText mode : {SpecialTokenText::kDropAll, SpecialTokenText::kDropTimestamps,
                                SpecialTokenText::kKeepAll}) {
    StreamingDecoder stream(tok, mode);
    std::string out;
    for (int id : ids) stream.push(id, out);
    stream.finish(out);
    EXPECT_EQ(out, tok.decode(ids, mode));
  }
  EXPECT_EQ(tok.decode_text(ids), "中文测试");
}

TEST(WhisperTokenizerStream, FinishReplacesAnUnfinishedCharacter) {
  const Tokenizer& tok = tokenizer_99();
  const std::vector<int> ids = tok.encode("ok 😀");
  StreamingDecoder stream(tok);
  std::string out;
  for (std::size_t i = 0; i + 1 < ids.size(); ++i) stream.push(ids[i], out);
  ASSERT_GT(stream.pending_bytes(), 0u);
  std::string tail;
  stream.finish(tail);
  EXPECT_EQ(tail, "\xef\xbf\xbd");
  EXPECT_EQ(stream.pending_bytes(), 0u);
  std::vector<int> prefix(ids.begin(), ids.end() - 1);
  EXPECT_EQ(out + tail, tok.decode(prefix));

  stream.push(ids[0], out);
  stream.reset();
  EXPECT_EQ(stream.pending_bytes(), 0u);
}

TEST(WhisperTokenizerStream, ArbitraryByteTokensMatchOneShotDecode) {
  // Every single-byte token in a scrambled order: lots of ill-formed sequences.
  const Tokenizer& tok = tokenizer_99();
  std::vector<int> ids;
  for (int b = 0; b < 256; ++b) {
    const char byte = static_cast<char>((b * 167 + 13) & 0xFF);
    const auto one = tok.encode(std::string_view(&byte, 1));
    ASSERT_EQ(one.size(), 1u);
    ids.push_back(one[0]);
  }
  StreamingDecoder stream(tok);
  std::string out;
  for (int id : ids) {
    std::string chunk;
    stream.push(id, chunk);
    EXPECT_TRUE(is_complete_utf8(chunk));
    out += chunk;
  }
  stream.finish(out);
  EXPECT_EQ(out, tok.decode(ids));
}

}  // namespace
}  // namespace earshot::test

namespace earshot::test {
namespace {

TEST(WhisperTokenizerStream, PushAllocatesNothing) {
  const Tokenizer& tok = tokenizer_99();
  std::vector<int> ids;
  for (const auto& sample : tokens_json().at("samples")) {
    const auto more = sample.at("multilingual_ids").get<std::vector<int>>();
    ids.insert(ids.end(), more.begin(), more.end());
    ids.push_back(tok.special().timestamp_begin + 7);
  }
  StreamingDecoder stream(tok);
  std::string out;
  out.reserve(4096);
  rt::guard::reset();
  {
    rt::AudioThreadScope scope;  // counts allocations made on this thread
    for (int id : ids) stream.push(id, out);
    stream.finish(out);
  }
  EXPECT_TRUE(rt::guard::installed());
  EXPECT_EQ(rt::guard::violations(), 0u) << rt::guard::first_violation_or_none();
  EXPECT_EQ(out, tok.decode_text(ids));
}

}  // namespace
}  // namespace earshot::test
