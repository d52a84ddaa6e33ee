// The English-only (.en) layout: GPT-2's vocabulary, <|endoftext|> = 50256 inside vocab.json,
// 51864 tokens. The fixtures hold no HF files for it, so they are built here from openai's
// gpt2.tiktoken: vocab.json from the ranks, merges.txt recovered from the ranks (each token is
// the BPE of its own bytes stopped just before its rank, which leaves exactly two parts), and
// an old-style added_tokens.json (<|nocaptions|>, no timestamp tokens). The checks are against
// tokens.json's english_gpt2 reference: sample ids, non_speech_tokens (84), suppress lists (90).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "models/whisper/bpe_byte_level.hpp"
#include "tests/whisper_tokenizer/tokenizer_test_support.hpp"

namespace earshot::test {
namespace {

namespace fs = std::filesystem;
using models::whisper::Tokenizer;

std::string base64_decode(std::string_view in) {
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+')
      v = 62;
    else if (c == '/')
      v = 63;
    else
      break;  // '=' padding
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return out;
}

// The two parts BPE leaves when only merges ranked below `rank` may apply.
std::pair<std::string, std::string> split_by_lower_ranks(
    const std::string& token, int rank, const std::unordered_map<std::string, int>& ranks) {
  std::vector<std::string> parts;
  for (char c : token) parts.emplace_back(1, c);
  while (parts.size() > 2) {
    int best_rank = rank;
    std::size_t best = parts.size();
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
      const auto it = ranks.find(parts[i] + parts[i + 1]);
      if (it != ranks.end() && it->second < best_rank) {
        best_rank = it->second;
        best = i;
      }
    }
    if (best == parts.size()) break;
    parts[best] += parts[best + 1];
    parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(best) + 1);
  }
  EXPECT_EQ(parts.size(), 2u) << "token of rank " << rank;
  return {parts.front(), parts.back()};
}

class EnglishTokenizerDir {
 public:
  EnglishTokenizerDir() {
    path_ = fs::temp_directory_path() / ("earshot_tokenizer_en_" + std::to_string(::getpid()));
    fs::remove_all(path_);
    fs::create_directories(path_);

    std::ifstream in(tokenizer_fixture("gpt2.tiktoken"));
    std::vector<std::string> by_rank;
    std::unordered_map<std::string, int> ranks;
    std::string encoded;
    int rank = 0;
    while (in >> encoded >> rank) {
      if (static_cast<int>(by_rank.size()) <= rank)
        by_rank.resize(static_cast<std::size_t>(rank) + 1);
      by_rank[static_cast<std::size_t>(rank)] = base64_decode(encoded);
      ranks.emplace(by_rank[static_cast<std::size_t>(rank)], rank);
    }

    nlohmann::json vocab = nlohmann::json::object();
    std::ostringstream merges;
    merges << "#version: 0.2\n";
    for (std::size_t r = 0; r < by_rank.size(); ++r) {
      vocab[models::whisper::bpe::bytes_to_byte_level(by_rank[r])] = r;
      if (by_rank[r].size() < 2) continue;
      const auto [left, right] = split_by_lower_ranks(by_rank[r], static_cast<int>(r), ranks);
      merges << models::whisper::bpe::bytes_to_byte_level(left) << ' '
             << models::whisper::bpe::bytes_to_byte_level(right) << '\n';
    }
    const auto& ref = tokens_json().at("english_gpt2");
    const int eot = ref.at("eot").get<int>();
    vocab["<|endoftext|>"] = eot;  // as in the Hub's .en vocab.json

    nlohmann::json added = nlohmann::json::object();
    added["<|startoftranscript|>"] = ref.at("sot");
    for (const auto& [code, id] : ref.at("language_tokens").items()) added["<|" + code + "|>"] = id;
    added["<|translate|>"] = ref.at("translate");
    added["<|transcribe|>"] = ref.at("transcribe");
    added["<|startoflm|>"] = ref.at("sot_lm");
    added["<|startofprev|>"] = ref.at("sot_prev");
    added["<|nocaptions|>"] = ref.at("no_speech");  // the older Hub name of <|nospeech|>
    added["<|notimestamps|>"] = ref.at("no_timestamps");

    std::ofstream(path_ / "vocab.json") << vocab.dump();
    std::ofstream(path_ / "merges.txt") << merges.str();
    std::ofstream(path_ / "added_tokens.json") << added.dump();
  }
  ~EnglishTokenizerDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

TEST(WhisperTokenizerEnglish, Gpt2LayoutMatchesReference) {
  EnglishTokenizerDir dir;
  const Tokenizer tok = Tokenizer::load(dir.path());
  const auto& ref = tokens_json().at("english_gpt2");

  EXPECT_EQ(tok.vocab_size(), ref.at("n_vocab").get<int>());
  EXPECT_FALSE(tok.is_multilingual());
  EXPECT_EQ(tok.special().eot, ref.at("eot").get<int>());
  EXPECT_TRUE(tok.is_special(tok.special().eot));
  EXPECT_EQ(tok.special().no_speech, ref.at("no_speech").get<int>());
  EXPECT_EQ(tok.special().timestamp_begin, ref.at("timestamp_begin").get<int>());
  EXPECT_EQ(tok.special().timestamp_end, ref.at("timestamp_end").get<int>());
  EXPECT_EQ(tok.non_speech_tokens(), ref.at("non_speech_tokens").get<std::vector<int>>());
  EXPECT_EQ(tok.suppress_tokens_default(),
            ref.at("suppress_tokens_default").get<std::vector<int>>());
  EXPECT_EQ(tok.suppress_blank_tokens(), ref.at("suppress_blank_tokens").get<std::vector<int>>());

  for (const auto& sample : tokens_json().at("samples")) {
    const auto text = sample.at("text").get<std::string>();
    const auto expected = sample.at("gpt2_ids").get<std::vector<int>>();
    EXPECT_EQ(tok.encode(text), expected) << text;
    EXPECT_EQ(tok.decode(expected), text);
  }
  // <|endoftext|> is text token 50256 of GPT-2, yet decode_text drops it like any special.
  EXPECT_EQ(tok.decode_text(std::vector<int>{15496, tok.special().eot}), "Hello");
}

}  // namespace
}  // namespace earshot::test
