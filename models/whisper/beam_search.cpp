#include "models/whisper/beam_search.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace earshot::models::whisper {
namespace {

// seq + [token] == other, without building seq + [token].
bool equals_extended(const std::vector<int>& other, const std::vector<int>& seq, int token) {
  return other.size() == seq.size() + 1 && other.back() == token &&
         std::equal(seq.begin(), seq.end(), other.begin());
}

}  // namespace

BeamSearch::BeamSearch(int max_beam, std::size_t max_len) : max_len_(max_len) {
  if (max_beam < 1) throw std::invalid_argument("beam search: max_beam must be >= 1");
  const auto beams = static_cast<std::size_t>(max_beam);
  candidates_.reserve(beams * (beams + 1));
  newly_finished_.reserve(beams * (beams + 1));
  top_.reserve(beams + 1);
  next_.resize(beams);
  for (auto& seq : next_) seq.reserve(max_len);
  next_sums_.resize(beams);
  next_source_.resize(beams);
  order_.resize(beams);
  // Patience up to 2 never needs more finished slots than this.
  reserve_finished(2 * beams);
}

void BeamSearch::reserve_finished(std::size_t slots) {
  while (finished_.size() < slots) {
    finished_.emplace_back();
    finished_.back().tokens.reserve(max_len_);
  }
}

void BeamSearch::start(int beam_size, float patience, int eot) {
  if (beam_size < 1 || static_cast<std::size_t>(beam_size) > next_.size())
    throw std::invalid_argument("beam search: beam size " + std::to_string(beam_size) +
                                ", prepared for at most " + std::to_string(next_.size()));
  if (!(patience > 0.0f)) throw std::invalid_argument("beam search: patience must be > 0");
  beam_size_ = beam_size;
  max_candidates_ = static_cast<int>(std::lround(beam_size * patience));
  eot_ = eot;
  n_finished_ = 0;
  selected_ = 0;
  reserve_finished(static_cast<std::size_t>(std::max(max_candidates_, beam_size_)));
}

void BeamSearch::add_finished(const std::vector<int>& seq, int token, float score) {
  for (int i = 0; i < n_finished_; ++i) {
    Finished& f = finished_[static_cast<std::size_t>(i)];
    if (equals_extended(f.tokens, seq, token)) {
      f.sum_logprob = score;
      return;
    }
  }
  Finished& f = finished_[static_cast<std::size_t>(n_finished_++)];
  f.tokens.assign(seq.begin(), seq.end());  // within the reserved capacity
  f.tokens.push_back(token);
  f.sum_logprob = score;
}

bool BeamSearch::update(std::span<std::vector<int>> tokens, std::span<const float> logprobs,
                        int n_vocab, std::span<float> sum_logprobs, std::span<int> source) {
  // Step 1: every beam's top beam_size + 1 continuations (ties: the lower token id first).
  // Like the reference's dict keyed by sequence, a repeated sequence keeps its first position
  // and takes the latest score/source.
  candidates_.clear();
  const int k = std::min(beam_size_ + 1, n_vocab);
  for (int j = 0; j < beam_size_; ++j) {
    const float* lp = logprobs.data() + static_cast<std::size_t>(j) * n_vocab;
    // Insertion into a short sorted list: scanning ids in order, an equal value never displaces
    // an earlier (lower) id, which is the ordering (lp desc, id asc).
    top_.clear();
    for (int t = 0; t < n_vocab; ++t) {
      const float v = lp[t];
      if (static_cast<int>(top_.size()) == k && !(v > lp[top_.back()])) continue;
      std::size_t pos = top_.size();
      while (pos > 0 && v > lp[top_[pos - 1]]) --pos;
      if (static_cast<int>(top_.size()) == k) top_.pop_back();
      top_.insert(top_.begin() + static_cast<std::ptrdiff_t>(pos), t);  // within capacity
    }
    const std::vector<int>& prefix = tokens[static_cast<std::size_t>(j)];
    for (int token : top_) {
      const Candidate c{j, token, sum_logprobs[static_cast<std::size_t>(j)] + lp[token]};
      auto same = std::find_if(candidates_.begin(), candidates_.end(), [&](const Candidate& o) {
        return o.token == token && tokens[static_cast<std::size_t>(o.source)] == prefix;
      });
      if (same != candidates_.end())
        *same = c;
      else
        candidates_.push_back(c);
    }
  }
  // Step 2: rank best first. A stable insertion sort (at most beam * (beam + 1) entries): the
  // order std::stable_sort gives, without its temporary buffer.
  for (std::size_t i = 1; i < candidates_.size(); ++i) {
    const Candidate c = candidates_[i];
    std::size_t p = i;
    while (p > 0 && c.score > candidates_[p - 1].score) {
      candidates_[p] = candidates_[p - 1];
      --p;
    }
    candidates_[p] = c;
  }
  // Step 3: the best beam_size unfinished candidates continue; finished ones are noted.
  newly_finished_.clear();
  selected_ = 0;
  for (std::size_t i = 0; i < candidates_.size(); ++i) {
    const Candidate& c = candidates_[i];
    if (c.token == eot_) {
      newly_finished_.push_back(static_cast<int>(i));
    } else {
      const auto n = static_cast<std::size_t>(selected_++);
      next_[n].assign(tokens[static_cast<std::size_t>(c.source)].begin(),
                      tokens[static_cast<std::size_t>(c.source)].end());
      next_[n].push_back(c.token);
      next_sums_[n] = c.score;
      next_source_[n] = c.source;
      if (selected_ == beam_size_) break;
    }
  }
  // Newly finished sequences join the finished list (best first) until it is full.
  for (int i : newly_finished_) {
    if (n_finished_ >= max_candidates_) break;
    const Candidate& c = candidates_[static_cast<std::size_t>(i)];
    add_finished(tokens[static_cast<std::size_t>(c.source)], c.token, c.score);
  }
  if (selected_ == beam_size_) {
    for (std::size_t n = 0; n < static_cast<std::size_t>(beam_size_); ++n) {
      std::swap(tokens[n], next_[n]);  // swaps buffers: capacities stay reserved
      sum_logprobs[n] = next_sums_[n];
      source[n] = next_source_[n];
    }
  }
  return n_finished_ >= max_candidates_;
}

void BeamSearch::finalize(std::span<const std::vector<int>> tokens,
                          std::span<const float> sum_logprobs) {
  if (n_finished_ >= beam_size_) return;
  const std::size_t n = std::min(tokens.size(), order_.size());
  for (std::size_t i = 0; i < n; ++i) order_[i] = static_cast<int>(i);
  // Stable insertion sort by sum, best first.
  for (std::size_t i = 1; i < n; ++i) {
    const int j = order_[i];
    std::size_t p = i;
    while (p > 0 && sum_logprobs[static_cast<std::size_t>(j)] >
                        sum_logprobs[static_cast<std::size_t>(order_[p - 1])]) {
      order_[p] = order_[p - 1];
      --p;
    }
    order_[p] = j;
  }
  for (std::size_t i = 0; i < n; ++i) {
    const auto j = static_cast<std::size_t>(order_[i]);
    add_finished(tokens[j], eot_, sum_logprobs[j]);
    if (n_finished_ >= beam_size_) break;
  }
}

}  // namespace earshot::models::whisper
