// Encoding and decoding the reference samples of tokens.json (openai/whisper via tiktoken).
#include <gtest/gtest.h>

#include "tests/whisper_tokenizer/tokenizer_test_support.hpp"

namespace earshot::test {
namespace {

using models::whisper::Tokenizer;

void expect_samples(const Tokenizer& tok) {
  const auto& samples = tokens_json().at("samples");
  ASSERT_EQ(samples.size(), 12u);
  for (const auto& sample : samples) {
    const auto text = sample.at("text").get<std::string>();
    const auto expected = sample.at("multilingual_ids").get<std::vector<int>>();
    SCOPED_TRACE(text);
    const std::vector<int> ids = tok.encode(text);
    EXPECT_EQ(ids, expected);
    EXPECT_EQ(tok.decode(expected), sample.at("multilingual_decoded").get<std::string>());
    EXPECT_EQ(tok.decode(ids), text);  // round trip
    const auto hex = sample.at("multilingual_token_bytes_hex").get<std::vector<std::string>>();
    ASSERT_EQ(hex.size(), expected.size());
    for (std::size_t i = 0; i < hex.size(); ++i) {
      EXPECT_EQ(std::string(tok.token_bytes(expected[i])), hex_to_bytes(hex[i])) << "token " << i;
    }
  }
}

TEST(WhisperTokenizerEncode, SamplesMatchReference99) {
  expect_samples(tokenizer_99());
}

TEST(WhisperTokenizerEncode, SamplesMatchReference100) {
  expect_samples(tokenizer_100());
}

TEST(WhisperTokenizerEncode, DecodeWithTimestampsSample) {
  const auto& sample = tokens_json().at("timestamp_sample");
  const auto ids = sample.at("ids").get<std::vector<int>>();
  const Tokenizer& tok = tokenizer_99();
  EXPECT_EQ(tok.decode_with_timestamps(ids),
            sample.at("decode_with_timestamps").get<std::string>());
  EXPECT_EQ(tok.decode(ids), sample.at("decode").get<std::string>());
  EXPECT_EQ(tok.decode_text(ids), " Hello world");
}

TEST(WhisperTokenizerEncode, EmptyTextEncodesToNothing) {
  EXPECT_TRUE(tokenizer_99().encode("").empty());
  EXPECT_EQ(tokenizer_99().decode(std::vector<int>{}), "");
}

TEST(WhisperTokenizerEncode, SpecialSpellingsInTextAreOrdinaryText) {
  const Tokenizer& tok = tokenizer_99();
  const std::vector<int> ids = tok.encode("<|endoftext|>");
  EXPECT_GT(ids.size(), 1u);
  for (int id : ids) EXPECT_LT(id, tok.text_vocab_size());
  EXPECT_EQ(tok.decode(ids), "<|endoftext|>");
}

TEST(WhisperTokenizerEncode, InvalidUtf8RoundTripsItsBytes) {
  // Byte-level BPE encodes any bytes; decoding replaces what is not UTF-8 like Python does.
  const Tokenizer& tok = tokenizer_99();
  const std::string bytes = "ok \xff\xfe mid\xe4\xb8 end";
  const std::vector<int> ids = tok.encode(bytes);
  std::string joined;
  for (int id : ids) joined += tok.token_bytes(id);
  EXPECT_EQ(joined, bytes);
  // bytes.decode("utf-8", "replace") == 'ok \ufffd\ufffd mid\ufffd end'
  EXPECT_EQ(tok.decode(ids), "ok \xef\xbf\xbd\xef\xbf\xbd mid\xef\xbf\xbd end");
}

}  // namespace
}  // namespace earshot::test
