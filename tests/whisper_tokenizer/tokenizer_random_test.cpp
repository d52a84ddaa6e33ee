// Differential test of the heap-based BPE against the two textbook definitions, on random
// strings built to provoke ties (runs of one character) and multi-byte characters:
//  - Hugging Face: repeatedly merge the adjacent pair of lowest merges.txt rank, leftmost first;
//  - tiktoken (openai/whisper's reference): a piece that is a token stays whole, otherwise
//    repeatedly merge the adjacent pair whose concatenation has the lowest token id.
// Both are written naively (quadratic) here, straight from their definitions.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <random>
#include <unordered_map>

#include "models/whisper/bpe_byte_level.hpp"
#include "models/whisper/bpe_pretokenize.hpp"
#include "tests/whisper_tokenizer/tokenizer_test_support.hpp"

namespace earshot::test {
namespace {

using models::whisper::Tokenizer;

class NaiveBpe {
 public:
  explicit NaiveBpe(const Tokenizer& tok) {
    for (int id = 0; id < tok.text_vocab_size(); ++id) id_of_.emplace(tok.token_bytes(id), id);
    std::ifstream in(tokenizer_fixture("hf-multilingual-99/merges.txt"));
    std::string line;
    int rank = 0;
    while (std::getline(in, line)) {
      if (line.empty() || line.starts_with("#version")) continue;
      const auto space = line.find(' ');
      const auto left = models::whisper::bpe::byte_level_to_bytes(line.substr(0, space));
      const auto right = models::whisper::bpe::byte_level_to_bytes(line.substr(space + 1));
      merge_rank_.emplace(std::make_pair(*left, *right), rank++);
    }
  }

  std::vector<int> hugging_face(const std::string& piece) const {
    return merge(piece, [&](const std::string& a, const std::string& b) {
      const auto it = merge_rank_.find({a, b});
      return it == merge_rank_.end() ? -1 : it->second;
    });
  }

  std::vector<int> tiktoken(const std::string& piece) const {
    if (const auto it = id_of_.find(piece); it != id_of_.end()) return {it->second};
    return merge(piece, [&](const std::string& a, const std::string& b) {
      const auto it = id_of_.find(a + b);
      return it == id_of_.end() ? -1 : it->second;
    });
  }

 private:
  template <typename RankOf>
  std::vector<int> merge(const std::string& piece, RankOf rank_of) const {
    std::vector<std::string> parts;
    for (char c : piece) parts.emplace_back(1, c);
    while (parts.size() > 1) {
      int best_rank = -1;
      std::size_t best = 0;
      for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
        const int r = rank_of(parts[i], parts[i + 1]);
        if (r >= 0 && (best_rank < 0 || r < best_rank)) {  // strict: leftmost wins ties
          best_rank = r;
          best = i;
        }
      }
      if (best_rank < 0) break;
      parts[best] += parts[best + 1];
      parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(best) + 1);
    }
    std::vector<int> ids;
    for (const std::string& p : parts) ids.push_back(id_of_.at(p));
    return ids;
  }

  std::unordered_map<std::string, int> id_of_;
  std::map<std::pair<std::string, std::string>, int> merge_rank_;
};

std::string random_text(std::mt19937& rng) {
  static const std::vector<std::string> atoms = {
      "a",  "e",   "t",      "s",    "th",       "in",  " ",   "  ",  "\n",   "\t",    "'",
      "'s", "'ll", "0",      "1",    "7",        "!",   "?",   ".",   ",",    "-",     "(",
      ")",  "é",   "ß",      "Ä",    "中",       "文",  "の",  "한",  "ы",    "😀",     "🏽",
      "♪",  "—",   "\u3000", "\xff", "\xe4\xb8", "ing", "the", "The", " the", "ation", "ll"};
  std::uniform_int_distribution<std::size_t> pick(0, atoms.size() - 1);
  std::uniform_int_distribution<int> length(1, 40);
  std::uniform_int_distribution<int> repeat(1, 12);
  std::string text;
  for (int n = length(rng); n > 0; --n) {
    const std::string& atom = atoms[pick(rng)];
    for (int r = (rng() % 4 == 0) ? repeat(rng) : 1; r > 0; --r) text += atom;
  }
  return text;
}

TEST(WhisperTokenizerRandom, HeapBpeEqualsNaiveDefinitions) {
  const Tokenizer& tok = tokenizer_99();
  const NaiveBpe naive(tok);
  std::mt19937 rng(20250625);
  int pieces_checked = 0;
  for (int trial = 0; trial < 1500; ++trial) {
    const std::string text = random_text(rng);
    std::vector<std::string_view> pieces;
    models::whisper::bpe::pretokenize(text, pieces);
    std::vector<int> expected;
    for (std::string_view piece : pieces) {
      const std::vector<int> hf = naive.hugging_face(std::string(piece));
      ASSERT_EQ(hf, naive.tiktoken(std::string(piece))) << "definitions differ on a piece";
      expected.insert(expected.end(), hf.begin(), hf.end());
      ++pieces_checked;
    }
    const std::vector<int> ids = tok.encode(text);
    ASSERT_EQ(ids, expected) << "text: " << text;
    std::string joined;
    for (int id : ids) joined += tok.token_bytes(id);
    ASSERT_EQ(joined, text);
  }
  EXPECT_GT(pieces_checked, 10000);
}

}  // namespace
}  // namespace earshot::test
