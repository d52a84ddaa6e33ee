// Byte-level BPE over raw bytes: the text-token half of the Whisper tokenizer (specials are
// handled by Tokenizer). Merges are applied lowest rank first, leftmost first among equal
// ranks (the rule of Hugging Face tokenizers and of tiktoken, which agree on Whisper's
// vocabulary). A heap of candidate pairs keeps a piece of n bytes at O(n log n), so a long run
// of one character is not quadratic; nothing is cached, so results never depend on history.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <utility>
#include <vector>
#include "models/whisper/bpe_tables.hpp"

namespace earshot::models::whisper::bpe {

class BpeModel {
 public:
  BpeModel() = default;
  // token_bytes[id] is the raw byte string of text token id (ids 0..n-1, all distinct);
  // merges[rank] = (left bytes, right bytes): two tokens whose concatenation is a token.
  // Throws TokenizerError (message prefixed by `where`, the file) on inconsistent input.
  BpeModel(std::vector<std::string> token_bytes,
           const std::vector<std::pair<std::string, std::string>>& merges,
           const std::string& where);

  int size() const { return static_cast<int>(token_bytes_.size()); }
  std::size_t merge_count() const { return merge_count_; }
  const std::string& bytes_of(int id) const { return token_bytes_[static_cast<std::size_t>(id)]; }
  // Id of the token with exactly these bytes, or -1.
  int find(std::string_view bytes) const;

  // Appends the ids of one pre-tokenized piece to out.
  void encode_piece(std::string_view piece, std::vector<int>& out) const;

 private:
  std::vector<std::string> token_bytes_;
  TokenIdTable id_of_bytes_;
  int byte_token_[256] = {};
  MergeTable merges_;
  std::size_t merge_count_ = 0;  // lines in the file (a repeated pair counts once in merges_)
};

}  // namespace earshot::models::whisper::bpe
