#include "models/whisper/logit_filters.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace earshot::models::whisper {
namespace {
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

void mask(std::span<float> logits, int begin, int end) {
  begin = std::max(begin, 0);
  end = std::min(end, static_cast<int>(logits.size()));
  for (int i = begin; i < end; ++i) logits[static_cast<std::size_t>(i)] = kNegInf;
}
}  // namespace

void log_softmax(std::span<const float> logits, std::span<float> out) {
  float m = kNegInf;
  for (float v : logits) m = std::max(m, v);
  double sum = 0.0;
  for (float v : logits) sum += std::exp(static_cast<double>(v - m));
  const float lse = m + static_cast<float>(std::log(sum));
  for (std::size_t i = 0; i < logits.size(); ++i) out[i] = logits[i] - lse;
}

void LogitFilters::apply(std::span<const int> tokens, std::span<float> logits,
                         std::span<float> logprobs) const {
  const int n = static_cast<int>(tokens.size());
  const bool first_step = n == sample_begin;
  if (suppress_blank && first_step)
    for (int t : blank_tokens) mask(logits, t, t + 1);
  for (int t : suppress_tokens) mask(logits, t, t + 1);
  if (!timestamps) return;

  const int ts = ids.timestamp_begin;
  const int vocab = static_cast<int>(logits.size());
  mask(logits, ids.no_timestamps, ids.no_timestamps + 1);

  // Pairs: after a lone timestamp comes a timestamp (closing the segment) or EOT; after a
  // pair comes text.
  const std::span<const int> sampled = tokens.subspan(static_cast<std::size_t>(sample_begin));
  const std::size_t count = sampled.size();
  const bool last_ts = count >= 1 && sampled[count - 1] >= ts;
  const bool penultimate_ts = count < 2 || sampled[count - 2] >= ts;
  if (last_ts) {
    if (penultimate_ts)
      mask(logits, ts, vocab);
    else
      mask(logits, 0, ids.eot);
  }
  // Non-decreasing timestamps; a segment that just opened may not close at the same time.
  int last_timestamp = -1;
  for (int t : sampled)
    if (t >= ts) last_timestamp = t;
  if (last_timestamp >= 0) {
    const int limit = (last_ts && !penultimate_ts) ? last_timestamp : last_timestamp + 1;
    mask(logits, ts, limit);
  }
  if (first_step) {
    mask(logits, 0, ts);  // start with a timestamp
    if (max_initial_timestamp_index >= 0) mask(logits, ts + max_initial_timestamp_index + 1, vocab);
  }

  // If all timestamps together are more likely than the best text token, sample a timestamp.
  log_softmax(logits, logprobs);
  float max_text = kNegInf;
  for (int i = 0; i < ts; ++i) max_text = std::max(max_text, logprobs[static_cast<std::size_t>(i)]);
  float m = kNegInf;
  for (int i = ts; i < vocab; ++i) m = std::max(m, logprobs[static_cast<std::size_t>(i)]);
  float timestamp_logprob = kNegInf;
  if (m > kNegInf) {
    double sum = 0.0;
    for (int i = ts; i < vocab; ++i)
      sum += std::exp(static_cast<double>(logprobs[static_cast<std::size_t>(i)] - m));
    timestamp_logprob = m + static_cast<float>(std::log(sum));
  }
  if (timestamp_logprob > max_text) mask(logits, 0, ts);
}

}  // namespace earshot::models::whisper
