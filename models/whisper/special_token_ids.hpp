// Ids of Whisper's special tokens, derived from the vocabulary size exactly as openai/whisper lays
// them out after the text ranks: <|endoftext|>, <|startoftranscript|>, one token per language,
// <|translate|>, <|transcribe|>, <|startoflm|>, <|startofprev|>, <|nospeech|>,
// <|notimestamps|>, then the 1501 timestamps <|0.00|> ... <|30.00|>.
//   n_vocab 51864: English-only (.en) models, gpt2 ranks (50256 text tokens), 99 language slots
//   n_vocab 51865: multilingual v1/v2, 99 languages
//   n_vocab 51866: large-v3 / turbo, 100 languages (adds <|yue|>)
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace earshot::models::whisper {

struct SpecialTokenIds {
  int n_vocab = 0;
  bool multilingual = true;
  int num_languages = 0;
  int eot = 0;
  int sot = 0;
  int first_language = 0;
  int translate = 0;
  int transcribe = 0;
  int sot_lm = 0;
  int sot_prev = 0;
  int no_speech = 0;
  int no_timestamps = 0;
  int timestamp_begin = 0;  // <|0.00|>; <|t|> = timestamp_begin + round(t / 0.02)
  int timestamp_end = 0;    // <|30.00|>

  // Throws ConfigError for a vocabulary size Whisper never used.
  static SpecialTokenIds for_vocab(int n_vocab);

  // Cross-checks the ids against a Hugging Face generation_config.json when the file exists
  // (lang_to_id, task_to_id, no_timestamps_token_id, ...); throws ConfigError on disagreement.
  void check_generation_config(const std::filesystem::path& path) const;

  bool is_timestamp(int id) const { return id >= timestamp_begin; }
  // <|xx|> for a language code ("en", "yue"); throws ConfigError for an unknown code.
  int language_token(std::string_view code) const;
  // The language code of a language token id, or "" when `id` is not one.
  std::string language_code(int id) const;
  // [sot, language, task] (language omitted for English-only models), as openai's sot_sequence.
  std::vector<int> sot_sequence(int language_token, bool translate_task) const;
};

// The language codes in token order (openai/whisper's LANGUAGES table, 100 entries).
const std::vector<std::string_view>& whisper_language_codes();

}  // namespace earshot::models::whisper
