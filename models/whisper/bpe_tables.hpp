// Flat open-addressing hash tables for the BPE model: byte string -> token id and token pair ->
// merge. Built once at load (50k entries each) and only read afterwards. Node-based
// std::unordered_map spent most of the load time in cache misses and allocations; these keep
// everything in two flat arrays (linear probing, load factor <= 1/2).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace earshot::models::whisper::bpe {

// Looks ids up by their bytes. The strings stay in the owner's token_bytes vector, passed to
// every call (not kept as a pointer, so the owner may be moved).
class TokenIdTable {
 public:
  // Returns the first id of a duplicate byte string if there is one, else -1 (all inserted).
  int build(const std::vector<std::string>& token_bytes);
  int find(const std::vector<std::string>& token_bytes, std::string_view bytes) const;

 private:
  std::vector<std::int32_t> slots_;  // id, or -1 for empty
  std::uint64_t mask_ = 0;
};

struct MergeResult {
  std::int32_t rank = -1;
  std::int32_t result = -1;
};

class MergeTable {
 public:
  void reserve(std::size_t count);
  // Keeps the first (lowest-rank) entry for a repeated pair.
  void insert(std::int32_t left, std::int32_t right, MergeResult merge);
  // nullptr if the pair never merges.
  const MergeResult* find(std::int32_t left, std::int32_t right) const;
  std::size_t size() const { return size_; }

 private:
  struct Slot {
    std::uint64_t key = ~std::uint64_t{0};  // empty
    MergeResult merge;
  };
  static std::uint64_t key_of(std::int32_t left, std::int32_t right) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) |
           static_cast<std::uint32_t>(right);
  }
  std::vector<Slot> slots_;
  std::uint64_t mask_ = 0;
  std::size_t size_ = 0;
};

}  // namespace earshot::models::whisper::bpe
