// Special-token tables against tokens.json (openai/whisper's get_tokenizer), both layouts.
#include <gtest/gtest.h>

#include "models/whisper/tokenizer_languages.hpp"
#include "tests/whisper_tokenizer/tokenizer_test_support.hpp"

namespace earshot::test {
namespace {

using models::whisper::Task;
using models::whisper::Tokenizer;
using models::whisper::TokenizerError;

void expect_tables(const Tokenizer& tok, const nlohmann::json& ref) {
  const auto& s = tok.special();
  EXPECT_EQ(tok.vocab_size(), ref.at("n_vocab").get<int>());
  EXPECT_EQ(tok.text_vocab_size(), 50257);
  EXPECT_EQ(s.eot, ref.at("eot").get<int>());
  EXPECT_EQ(s.sot, ref.at("sot").get<int>());
  EXPECT_EQ(s.translate, ref.at("translate").get<int>());
  EXPECT_EQ(s.transcribe, ref.at("transcribe").get<int>());
  EXPECT_EQ(s.sot_lm, ref.at("sot_lm").get<int>());
  EXPECT_EQ(s.sot_prev, ref.at("sot_prev").get<int>());
  EXPECT_EQ(s.no_speech, ref.at("no_speech").get<int>());
  EXPECT_EQ(s.no_timestamps, ref.at("no_timestamps").get<int>());
  EXPECT_EQ(s.timestamp_begin, ref.at("timestamp_begin").get<int>());
  EXPECT_EQ(s.timestamp_end, ref.at("timestamp_end").get<int>());
  EXPECT_DOUBLE_EQ(models::whisper::kTimestampPrecisionSeconds,
                   ref.at("time_precision_s").get<double>());

  const auto& languages = ref.at("language_tokens");
  EXPECT_EQ(tok.language_codes().size(), languages.size());
  for (const auto& [code, id] : languages.items()) {
    EXPECT_EQ(tok.language_token(code), id.get<int>()) << code;
    EXPECT_EQ(tok.language_code(id.get<int>()), code);
    EXPECT_TRUE(tok.is_language_token(id.get<int>()));
    EXPECT_TRUE(models::whisper::language_name(code).has_value()) << code;
  }

  EXPECT_EQ(tok.sot_sequence("en", Task::kTranscribe),
            ref.at("sot_sequence_en_transcribe").get<std::vector<int>>());
  std::vector<int> without_timestamps = tok.sot_sequence("en", Task::kTranscribe);
  without_timestamps.push_back(s.no_timestamps);
  EXPECT_EQ(without_timestamps,
            ref.at("sot_sequence_en_transcribe_notimestamps").get<std::vector<int>>());

  EXPECT_EQ(tok.non_speech_tokens(), ref.at("non_speech_tokens").get<std::vector<int>>());
  EXPECT_EQ(tok.non_speech_tokens().size(), 82u);
  EXPECT_EQ(tok.suppress_tokens_default(),
            ref.at("suppress_tokens_default").get<std::vector<int>>());
  EXPECT_EQ(tok.suppress_tokens_default().size(), 88u);
  EXPECT_EQ(tok.suppress_blank_tokens(), ref.at("suppress_blank_tokens").get<std::vector<int>>());
}

TEST(WhisperTokenizerSpecial, TablesMatchReference99) {
  expect_tables(tokenizer_99(), tokens_json().at("multilingual_99"));
}

TEST(WhisperTokenizerSpecial, TablesMatchReference100) {
  expect_tables(tokenizer_100(), tokens_json().at("multilingual_100"));
  EXPECT_EQ(tokenizer_100().language_token("yue"), 50358);
  EXPECT_THROW(tokenizer_99().language_token("yue"), TokenizerError);  // not in v1/v2
}

TEST(WhisperTokenizerSpecial, SuppressListMatchesModelFixtures) {
  // The model fixtures' config.json carry the same 88 ids as suppress_tokens.
  for (const char* dir : {"whisper/tiny-random", "whisper/v3-random"}) {
    const auto config = models::read_json_file(fixture(std::string(dir) + "/config.json"));
    const Tokenizer& tok =
        std::string(dir).find("v3") != std::string::npos ? tokenizer_100() : tokenizer_99();
    EXPECT_EQ(tok.vocab_size(), config.at("vocab_size").get<int>()) << dir;
    EXPECT_EQ(tok.suppress_tokens_default(), config.at("suppress_tokens").get<std::vector<int>>())
        << dir;
    EXPECT_EQ(tok.suppress_blank_tokens(),
              config.at("begin_suppress_tokens").get<std::vector<int>>())
        << dir;
  }
}

TEST(WhisperTokenizerSpecial, SpecialTokenTexts) {
  const Tokenizer& tok = tokenizer_100();
  const auto& s = tok.special();
  EXPECT_EQ(tok.token_bytes(s.eot), "<|endoftext|>");
  EXPECT_EQ(tok.token_bytes(s.sot), "<|startoftranscript|>");
  EXPECT_EQ(tok.token_bytes(s.first_language()), "<|en|>");
  EXPECT_EQ(tok.token_bytes(s.translate - 1), "<|yue|>");
  EXPECT_EQ(tok.token_bytes(s.no_speech), "<|nospeech|>");
  EXPECT_EQ(tok.token_bytes(s.timestamp_begin + 50), "<|1.00|>");
  EXPECT_EQ(tok.token_bytes(s.timestamp_end), "<|30.00|>");
  EXPECT_TRUE(tok.is_special(s.eot));
  EXPECT_FALSE(tok.is_special(s.eot - 1));
  EXPECT_TRUE(tok.is_timestamp(s.timestamp_end));
  EXPECT_FALSE(tok.is_timestamp(s.no_timestamps));
}

TEST(WhisperTokenizerSpecial, TimestampConversions) {
  const Tokenizer& tok = tokenizer_99();
  const int begin = tok.special().timestamp_begin;
  EXPECT_DOUBLE_EQ(tok.timestamp_seconds(begin + 50), 1.0);
  EXPECT_DOUBLE_EQ(tok.timestamp_seconds(tok.special().timestamp_end), 30.0);
  EXPECT_EQ(tok.timestamp_token(1.0), begin + 50);
  EXPECT_EQ(tok.timestamp_token(0.029), begin + 1);
  EXPECT_EQ(tok.timestamp_token(-3.0), begin);
  EXPECT_EQ(tok.timestamp_token(99.0), tok.special().timestamp_end);
  EXPECT_EQ(tok.timestamp_token(std::numeric_limits<double>::quiet_NaN()), begin);
  EXPECT_THROW(tok.timestamp_seconds(begin - 1), TokenizerError);
}

TEST(WhisperTokenizerSpecial, LanguagesByNameAndAlias) {
  const Tokenizer& tok = tokenizer_99();
  EXPECT_EQ(tok.language_token("German"), tok.language_token("de"));
  EXPECT_EQ(tok.language_token("castilian"), tok.language_token("es"));
  EXPECT_EQ(tok.language_token("EN"), tok.special().first_language());
  EXPECT_EQ(tok.sot_sequence(std::nullopt, std::nullopt), std::vector<int>{tok.special().sot});
  EXPECT_EQ(
      tok.sot_sequence("fr", Task::kTranslate),
      (std::vector<int>{tok.special().sot, tok.language_token("fr"), tok.special().translate}));
  try {
    tok.language_token("klingon");
    FAIL() << "no exception";
  } catch (const TokenizerError& e) {
    EXPECT_NE(std::string(e.what()).find("klingon"), std::string::npos);
  }
  EXPECT_THROW(tok.language_code(tok.special().sot), TokenizerError);
}

TEST(WhisperTokenizerSpecial, LanguageTableOrderMatchesTokens) {
  // The name table is in token order: entry i is the language of token sot + 1 + i.
  const auto all = models::whisper::whisper_languages();
  const Tokenizer& tok = tokenizer_100();
  ASSERT_EQ(all.size(), tok.language_codes().size());
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].code, tok.language_codes()[i]);
}

TEST(WhisperTokenizerSpecial, IdsOutsideTheVocabularyThrow) {
  const Tokenizer& tok = tokenizer_99();
  EXPECT_THROW(tok.token_bytes(-1), TokenizerError);
  EXPECT_THROW(tok.token_bytes(tok.vocab_size()), TokenizerError);
  EXPECT_THROW(tok.decode(std::vector<int>{15947, 51865}), TokenizerError);
  EXPECT_NO_THROW(tok.decode(std::vector<int>{15947, 51864}));
}

}  // namespace
}  // namespace earshot::test

namespace earshot::test {
namespace {

TEST(WhisperTokenizerSpecial, VocabSizeMismatchIsExplained) {
  EXPECT_NO_THROW(tokenizer_99().expect_vocab_size(51865));
  EXPECT_NO_THROW(tokenizer_100().expect_vocab_size(51866));
  try {
    tokenizer_99().expect_vocab_size(51866);
    FAIL() << "no exception";
  } catch (const models::whisper::TokenizerError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("51865"), std::string::npos) << message;
    EXPECT_NE(message.find("51866"), std::string::npos) << message;
    EXPECT_NE(message.find("large-v3"), std::string::npos) << message;
  }
  EXPECT_THROW(tokenizer_100().expect_vocab_size(51865), models::whisper::TokenizerError);
  EXPECT_TRUE(tokenizer_99().is_multilingual());
  EXPECT_FALSE(tokenizer_99().is_special(-1));
  EXPECT_FALSE(tokenizer_99().is_special(51865));
}

}  // namespace
}  // namespace earshot::test
