// Whisper's special tokens, found by name among the added tokens and checked against the
// layout every Whisper model uses: <|endoftext|>, <|startoftranscript|>, one token per
// language, <|translate|>, <|transcribe|>, <|startoflm|>, <|startofprev|>, <|nospeech|>,
// <|notimestamps|>, then the 1501 timestamps <|0.00|> ... <|30.00|>.
#pragma once

#include <string>
#include <vector>

#include "models/whisper/tokenizer_files.hpp"

namespace earshot::models::whisper {

inline constexpr int kTimestampTokenCount = 1501;  // <|0.00|> ... <|30.00|>
inline constexpr double kTimestampPrecisionSeconds = 0.02;

struct SpecialTokens {
  int eot = -1;              // <|endoftext|>
  int sot = -1;              // <|startoftranscript|>
  int translate = -1;        // <|translate|>
  int transcribe = -1;       // <|transcribe|>
  int sot_lm = -1;           // <|startoflm|>
  int sot_prev = -1;         // <|startofprev|>
  int no_speech = -1;        // <|nospeech|> (older Hub files call it <|nocaptions|>)
  int no_timestamps = -1;    // <|notimestamps|>
  int timestamp_begin = -1;  // <|0.00|>
  int timestamp_end = -1;    // <|30.00|> (inclusive)
  // language_codes[i] is the language of token sot + 1 + i ("en", "zh", ...).
  std::vector<std::string> language_codes;

  int first_language() const { return sot + 1; }
  int language_count() const { return static_cast<int>(language_codes.size()); }
};

// "<|1.00|>" for timestamp index 50.
std::string timestamp_token_text(int index);

// Finds and checks the specials. If the added tokens have no timestamps at all (tokenizer
// files written before the Hub added them), the 1501 timestamp tokens are appended to
// `added` right after <|notimestamps|>, where every Whisper model has them. Throws
// TokenizerError (prefixed by `where`) when a special is missing or out of place.
SpecialTokens resolve_special_tokens(std::vector<AddedToken>& added, const std::string& where);

}  // namespace earshot::models::whisper
