// Event-driven (SAX) reading of the two large tokenizer JSON files, vocab.json (1 MB) and
// tokenizer.json (1.8 MB). Building a full JSON tree of them costs 3-4x more time than the
// tokenizer itself needs (nlohmann keeps objects as std::map), so only the parts the
// tokenizer uses are collected, already converted from the byte-level alphabet to raw bytes.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "models/whisper/tokenizer_files.hpp"

namespace earshot::models::whisper {

struct BpeJsonContents {
  std::vector<std::pair<std::string, long long>> vocab;     // (raw bytes, id) in file order
  std::vector<std::pair<std::string, std::string>> merges;  // (left, right) raw bytes
  std::vector<AddedToken> added;                            // tokenizer.json "added_tokens"
  bool has_model = false;  // tokenizer.json: a "model" object was found
  bool has_vocab = false;
  bool has_merges = false;
  std::string model_type;  // tokenizer.json: model.type ("BPE")
};

enum class BpeJsonLayout {
  kVocabJson,      // the whole document is {"spelling": id, ...}
  kTokenizerJson,  // {"added_tokens": [...], "model": {"type", "vocab", "merges"}, ...}
};

// Throws TokenizerError naming the file if it cannot be read, is not JSON, or has values of
// the wrong type where the tokenizer looks.
BpeJsonContents read_bpe_json(const std::filesystem::path& path, BpeJsonLayout layout);

// Byte-level spelling of one merge ("Ġt h" style "left right" string) -> raw byte strings;
// false if it is not two spellings separated by one space, or not in the alphabet.
bool split_merge_spelling(std::string_view line, std::string& left, std::string& right);

}  // namespace earshot::models::whisper
