// Finding and parsing the Whisper tokenizer files as published on the Hugging Face Hub:
//   vocab.json + merges.txt   the byte-level BPE (text tokens 0..50256)
//   tokenizer.json            the same BPE (model.vocab, model.merges) and the added tokens
//   added_tokens.json         the special tokens (<|endoftext|> ... <|30.00|>) -> id
// Every error is a TokenizerError naming the file.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace earshot::models::whisper {

// Which file each part of the tokenizer comes from (an empty path: not used).
struct TokenizerFiles {
  // Text tokens: vocab_json + merges_txt, or else tokenizer_json.
  std::filesystem::path vocab_json;
  std::filesystem::path merges_txt;
  std::filesystem::path tokenizer_json;
  // Special tokens: added_tokens_json, or else the "added_tokens" of specials_tokenizer_json.
  std::filesystem::path added_tokens_json;
  std::filesystem::path specials_tokenizer_json;
};

// Searches the directories in order. The text tokens come from the first directory holding
// vocab.json + merges.txt or tokenizer.json (vocab.json + merges.txt preferred when it has
// both: they are smaller to parse and hold the same BPE); the special tokens come from the
// first directory holding added_tokens.json or tokenizer.json (added_tokens.json preferred).
// So {model_dir} is the usual case, and {v3_tokenizer_dir, v1_tokenizer_dir} builds the
// 100-language large-v3 tokenizer from a directory that has only added_tokens.json (+
// tokenizer_config.json) plus the 99-language vocab.json + merges.txt, which are identical.
// Throws TokenizerError if a directory is missing, holds vocab.json without merges.txt (or the
// reverse), or if no directory provides the text or the special tokens.
TokenizerFiles locate_tokenizer_files(const std::vector<std::filesystem::path>& dirs);

// The BPE as read: token_bytes[id] = raw bytes of text token id (ids checked to be exactly
// 0..n-1); merges[rank] = (left, right) raw bytes. BpeModel checks the merges against the
// vocabulary.
struct TextTokenFiles {
  std::vector<std::string> token_bytes;
  std::vector<std::pair<std::string, std::string>> merges;
};

TextTokenFiles read_vocab_and_merges(const std::filesystem::path& vocab_json,
                                     const std::filesystem::path& merges_txt);

struct AddedToken {
  std::string content;
  int id;
};

std::vector<AddedToken> read_added_tokens_json(const std::filesystem::path& added_tokens_json);

// tokenizer.json: its BPE model (type "BPE"; merges as "a b" strings or ["a", "b"] pairs) and
// its "added_tokens" list.
struct TokenizerJsonContents {
  TextTokenFiles text;
  std::vector<AddedToken> added;
};
TokenizerJsonContents read_tokenizer_json(const std::filesystem::path& tokenizer_json);

}  // namespace earshot::models::whisper
