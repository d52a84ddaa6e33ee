#include "models/whisper/beam_search.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace earshot::models::whisper {
namespace {

struct Candidate {
  int source;  // beam the prefix comes from
  int token;
  float score;
};

bool same_sequence(const std::vector<std::vector<int>>& tokens, const Candidate& a,
                   const Candidate& b) {
  return a.token == b.token &&
         tokens[static_cast<std::size_t>(a.source)] == tokens[static_cast<std::size_t>(b.source)];
}

}  // namespace

BeamSearch::BeamSearch(int beam_size, float patience, int eot)
    : beam_size_(beam_size),
      max_candidates_(static_cast<int>(std::lround(beam_size * patience))),
      eot_(eot) {}

bool BeamSearch::update(std::vector<std::vector<int>>& tokens, std::span<const float> logprobs,
                        int n_vocab, std::vector<float>& sum_logprobs, std::vector<int>& source) {
  // Step 1: every beam's top beam_size + 1 continuations. Like the reference's dict keyed by
  // sequence, a repeated sequence keeps its first position and takes the latest score/source.
  std::vector<Candidate> candidates;
  std::vector<int> order(static_cast<std::size_t>(n_vocab));
  for (int j = 0; j < beam_size_; ++j) {
    const float* lp = logprobs.data() + static_cast<std::size_t>(j) * n_vocab;
    std::iota(order.begin(), order.end(), 0);
    const int k = std::min(beam_size_ + 1, n_vocab);
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [lp](int a, int b) { return lp[a] > lp[b] || (lp[a] == lp[b] && a < b); });
    for (int i = 0; i < k; ++i) {
      const int token = order[static_cast<std::size_t>(i)];
      Candidate c{j, token, sum_logprobs[static_cast<std::size_t>(j)] + lp[token]};
      auto it = std::find_if(candidates.begin(), candidates.end(),
                             [&](const Candidate& o) { return same_sequence(tokens, o, c); });
      if (it != candidates.end())
        *it = c;
      else
        candidates.push_back(c);
    }
  }
  // Step 2: rank (stable, best first) and keep beam_size unfinished sequences.
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
  std::vector<std::vector<int>> next;
  std::vector<Finished> newly_finished;
  source.clear();
  std::vector<float> new_sums;
  for (const Candidate& c : candidates) {
    std::vector<int> seq = tokens[static_cast<std::size_t>(c.source)];
    seq.push_back(c.token);
    if (c.token == eot_) {
      newly_finished.push_back({std::move(seq), c.score});
    } else {
      new_sums.push_back(c.score);
      next.push_back(std::move(seq));
      source.push_back(c.source);
      if (static_cast<int>(next.size()) == beam_size_) break;
    }
  }
  for (std::size_t i = 0; i < new_sums.size(); ++i) sum_logprobs[i] = new_sums[i];
  tokens = std::move(next);

  // Newly finished sequences join the finished list (best first) until it is full.
  for (auto& f : newly_finished) {
    if (static_cast<int>(finished_.size()) >= max_candidates_) break;
    auto it = std::find_if(finished_.begin(), finished_.end(),
                           [&](const Finished& o) { return o.tokens == f.tokens; });
    if (it != finished_.end())
      it->sum_logprob = f.sum_logprob;
    else
      finished_.push_back(std::move(f));
  }
  return static_cast<int>(finished_.size()) >= max_candidates_;
}

std::vector<BeamSearch::Finished> BeamSearch::finalize(
    const std::vector<std::vector<int>>& tokens, const std::vector<float>& sum_logprobs) const {
  std::vector<Finished> out = finished_;
  if (static_cast<int>(out.size()) < beam_size_) {
    std::vector<int> order(tokens.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      return sum_logprobs[static_cast<std::size_t>(a)] > sum_logprobs[static_cast<std::size_t>(b)];
    });
    for (int j : order) {
      std::vector<int> seq = tokens[static_cast<std::size_t>(j)];
      seq.push_back(eot_);
      auto it =
          std::find_if(out.begin(), out.end(), [&](const Finished& o) { return o.tokens == seq; });
      if (it != out.end())
        it->sum_logprob = sum_logprobs[static_cast<std::size_t>(j)];
      else
        out.push_back({std::move(seq), sum_logprobs[static_cast<std::size_t>(j)]});
      if (static_cast<int>(out.size()) >= beam_size_) break;
    }
  }
  return out;
}

}  // namespace earshot::models::whisper
