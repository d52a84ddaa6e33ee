#include "models/whisper/bpe_model.hpp"

#include <algorithm>
#include <cstdio>

#include "models/whisper/bpe_byte_level.hpp"
#include "models/whisper/tokenizer_error.hpp"

namespace earshot::models::whisper::bpe {

BpeModel::BpeModel(std::vector<std::string> token_bytes,
                   const std::vector<std::pair<std::string, std::string>>& merges,
                   const std::string& where)
    : token_bytes_(std::move(token_bytes)), merge_count_(merges.size()) {
  if (const int duplicate = id_of_bytes_.build(token_bytes_); duplicate >= 0) {
    throw TokenizerError(where + ": two tokens have the same bytes as token " +
                         std::to_string(duplicate));
  }
  for (int b = 0; b < 256; ++b) {
    const char byte = static_cast<char>(b);
    byte_token_[b] = find(std::string_view(&byte, 1));
    if (byte_token_[b] < 0) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", b);
      throw TokenizerError(where + ": the vocabulary has no token for the single byte " + hex +
                           " (not a byte-level BPE vocabulary)");
    }
  }

  merges_.reserve(merges.size());
  std::string joined;
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left_bytes, right_bytes] = merges[rank];
    const int left = find(left_bytes);
    const int right = find(right_bytes);
    if (left < 0 || right < 0) {
      throw TokenizerError(where + ": merge " + std::to_string(rank) + " uses \"" +
                           bytes_to_byte_level(left < 0 ? left_bytes : right_bytes) +
                           "\", which is not in the vocabulary");
    }
    joined = left_bytes;
    joined += right_bytes;
    const int result = find(joined);
    if (result < 0) {
      throw TokenizerError(where + ": merge " + std::to_string(rank) + " produces \"" +
                           bytes_to_byte_level(joined) + "\", which is not in the vocabulary");
    }
    // A repeated pair keeps its first (lowest) rank, as Hugging Face tokenizers does.
    merges_.insert(left, right, {static_cast<std::int32_t>(rank), result});
  }
}

int BpeModel::find(std::string_view bytes) const {
  return id_of_bytes_.find(token_bytes_, bytes);
}

void BpeModel::encode_piece(std::string_view piece, std::vector<int>& out) const {
  if (piece.empty()) return;
  if (piece.size() == 1) {
    out.push_back(byte_token_[static_cast<unsigned char>(piece[0])]);
    return;
  }

  // One symbol per byte at first, linked in a list; merged symbols die and their left
  // neighbour takes the merged id.
  struct Symbol {
    int id;
    int prev;
    int next;  // -1 at the ends
    bool alive;
  };
  struct Candidate {
    int rank;
    int left;  // symbol index (= byte position, so smaller is further left)
    int left_id;
    int right_id;
    int result;
  };
  // std heap functions build a max-heap; invert so the lowest rank, then leftmost, is on top.
  const auto after = [](const Candidate& a, const Candidate& b) {
    return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
  };

  const int n = static_cast<int>(piece.size());
  std::vector<Symbol> symbols(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    symbols[i] = {byte_token_[static_cast<unsigned char>(piece[i])], i - 1, i + 1 < n ? i + 1 : -1,
                  true};
  }
  std::vector<Candidate> heap;
  heap.reserve(static_cast<std::size_t>(n));
  const auto consider = [&](int left) {
    const int right = symbols[left].next;
    if (right < 0) return;
    if (const MergeResult* m = merges_.find(symbols[left].id, symbols[right].id)) {
      heap.push_back({m->rank, left, symbols[left].id, symbols[right].id, m->result});
      std::push_heap(heap.begin(), heap.end(), after);
    }
  };
  for (int i = 0; i + 1 < n; ++i) consider(i);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), after);
    const Candidate c = heap.back();
    heap.pop_back();
    Symbol& left = symbols[c.left];
    // Skip candidates made stale by an earlier merge of either side.
    if (!left.alive || left.id != c.left_id || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    if (right.id != c.right_id) continue;

    left.id = c.result;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = c.left;
    if (left.prev >= 0) consider(left.prev);
    consider(c.left);
  }

  for (int i = 0; i >= 0; i = symbols[i].next) out.push_back(symbols[i].id);
}

}  // namespace earshot::models::whisper::bpe
