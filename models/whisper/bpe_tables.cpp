#include "models/whisper/bpe_tables.hpp"

#include <functional>

namespace earshot::models::whisper::bpe {

namespace {

std::uint64_t capacity_for(std::size_t count) {
  std::uint64_t capacity = 16;
  while (capacity < 2 * count) capacity *= 2;
  return capacity;
}

std::uint64_t hash_bytes(std::string_view bytes) {
  return std::hash<std::string_view>{}(bytes);
}

// splitmix64 finaliser: spreads the (left, right) id pair over all bits.
std::uint64_t hash_key(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

int TokenIdTable::build(const std::vector<std::string>& token_bytes) {
  const std::uint64_t capacity = capacity_for(token_bytes.size());
  slots_.assign(capacity, -1);
  mask_ = capacity - 1;
  for (std::size_t id = 0; id < token_bytes.size(); ++id) {
    const std::string& bytes = token_bytes[id];
    for (std::uint64_t i = hash_bytes(bytes) & mask_;; i = (i + 1) & mask_) {
      if (slots_[i] < 0) {
        slots_[i] = static_cast<std::int32_t>(id);
        break;
      }
      if (token_bytes[static_cast<std::size_t>(slots_[i])] == bytes) return slots_[i];
    }
  }
  return -1;
}

int TokenIdTable::find(const std::vector<std::string>& token_bytes, std::string_view bytes) const {
  if (slots_.empty()) return -1;
  for (std::uint64_t i = hash_bytes(bytes) & mask_;; i = (i + 1) & mask_) {
    const std::int32_t id = slots_[i];
    if (id < 0) return -1;
    if (token_bytes[static_cast<std::size_t>(id)] == bytes) return id;
  }
}

void MergeTable::reserve(std::size_t count) {
  const std::uint64_t capacity = capacity_for(count);
  slots_.assign(capacity, Slot{});
  mask_ = capacity - 1;
  size_ = 0;
}

void MergeTable::insert(std::int32_t left, std::int32_t right, MergeResult merge) {
  if (2 * (size_ + 1) > slots_.size()) {  // grow: rehash everything into twice the room
    std::vector<Slot> old = std::move(slots_);
    reserve(old.size() + 1);
    for (const Slot& s : old) {
      if (s.key != ~std::uint64_t{0}) {
        insert(static_cast<std::int32_t>(s.key >> 32),
               static_cast<std::int32_t>(s.key & 0xFFFFFFFFu), s.merge);
      }
    }
  }
  const std::uint64_t key = key_of(left, right);
  for (std::uint64_t i = hash_key(key) & mask_;; i = (i + 1) & mask_) {
    if (slots_[i].key == key) return;  // repeated pair: the lower rank came first
    if (slots_[i].key == ~std::uint64_t{0}) {
      slots_[i] = {key, merge};
      ++size_;
      return;
    }
  }
}

const MergeResult* MergeTable::find(std::int32_t left, std::int32_t right) const {
  if (slots_.empty()) return nullptr;
  const std::uint64_t key = key_of(left, right);
  for (std::uint64_t i = hash_key(key) & mask_;; i = (i + 1) & mask_) {
    if (slots_[i].key == key) return &slots_[i].merge;
    if (slots_[i].key == ~std::uint64_t{0}) return nullptr;
  }
}

}  // namespace earshot::models::whisper::bpe
