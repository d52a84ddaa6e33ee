// openai/whisper's logit filters, applied in its order to one sequence's next-token logits:
//   SuppressBlank        at the first sampled step: " " (220) and <|endoftext|>
//   SuppressTokens       the non-speech symbols and the task/sot specials, every step
//   ApplyTimestampRules  (timestamp mode) <|notimestamps|> never; timestamps in pairs and
//                        non-decreasing, each segment non-empty; the first token a timestamp no
//                        later than max_initial_timestamp; text masked when the timestamps'
//                        total probability beats every text token.
// Suppressed entries become -inf. No allocation.
#pragma once

#include "models/whisper/special_token_ids.hpp"

#include <span>
#include <vector>

namespace earshot::models::whisper {

struct LogitFilters {
  SpecialTokenIds ids;
  int sample_begin = 0;  // index of the first sampled token in a sequence
  bool suppress_blank = true;
  std::vector<int> blank_tokens;         // [220, eot]
  std::vector<int> suppress_tokens;      // sorted, unique
  bool timestamps = false;               // ApplyTimestampRules on
  int max_initial_timestamp_index = -1;  // -1: no limit; 50 = 1.0 s

  // `tokens`: the whole sequence so far (initial tokens, then the sampled ones).
  // `logprobs_scratch`: n_vocab floats.
  void apply(std::span<const int> tokens, std::span<float> logits,
             std::span<float> logprobs_scratch) const;
};

// log_softmax into `out` (may alias `logits`); -inf entries stay -inf.
void log_softmax(std::span<const float> logits, std::span<float> out);

}  // namespace earshot::models::whisper
