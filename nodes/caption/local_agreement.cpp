#include "nodes/caption/local_agreement.hpp"

#include <algorithm>

namespace earshot::nodes::caption {
namespace {
// Timestamps are 20 ms apart; anything closer than that is the same instant.
constexpr double kTimeEpsilon = 1e-3;
}  // namespace

LocalAgreement::LocalAgreement(std::size_t capacity) : capacity_(capacity) {
  // The committed text in the buffer is a prefix of some hypothesis, but recognised by time it
  // may outgrow one; twice the capacity, and the oldest are dropped beyond that.
  in_buffer_.reserve(2 * capacity);
  partial_.reserve(capacity);
  committed_.reserve(capacity);
  agreed_.reserve(capacity);
  removed_.reserve(2 * capacity);
}

std::size_t LocalAgreement::committed_prefix(std::span<const HypToken> hyp) const {
  if (in_buffer_.empty()) return 0;
  const std::size_t m = in_buffer_.size();
  if (hyp.size() >= m &&
      std::equal(in_buffer_.begin(), in_buffer_.end(), hyp.begin(),
                 [](const HypToken& a, const HypToken& b) { return a.id == b.id; }))
    return m;
  // The model re-read the committed audio differently: skip what lies before the end of the
  // committed text (token midpoints, so a token straddling the boundary counts as new).
  std::size_t k = 0;
  while (k < hyp.size() && 0.5 * (hyp[k].start + hyp[k].end) <= committed_end_ + kTimeEpsilon) ++k;
  return k;
}

void LocalAgreement::commit(std::span<const HypToken> tokens) {
  committed_.clear();
  for (HypToken t : tokens) {
    // Committed text is monotonic in time, whatever the new hypothesis' timestamps say.
    t.start = std::max(t.start, std::max(committed_end_, 0.0));
    t.end = std::max(t.end, t.start);
    committed_end_ = t.end;
    if (t.ends_segment) committed_segment_end_ = t.end;
    committed_.push_back(t);
    if (in_buffer_.size() == in_buffer_.capacity()) in_buffer_.erase(in_buffer_.begin());
    in_buffer_.push_back(t);
  }
}

LocalAgreement::Update LocalAgreement::update(std::span<const HypToken> hypothesis) {
  if (hypothesis.size() > capacity_) hypothesis = hypothesis.first(capacity_);
  const auto rest = hypothesis.subspan(committed_prefix(hypothesis));
  std::size_t agreed = 0;
  while (agreed < rest.size() && agreed < partial_.size() && rest[agreed].id == partial_[agreed].id)
    ++agreed;
  // A token's audio had ended by the earlier of the two passes that agree on it: its times are
  // the earlier estimates (an unfinished segment is stretched to its pass's window end, so the
  // newer pass alone would date every word to "just now").
  agreed_.assign(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(agreed));
  for (std::size_t i = 0; i < agreed; ++i) {
    agreed_[i].start = std::min(agreed_[i].start, partial_[i].start);
    agreed_[i].end = std::min(agreed_[i].end, partial_[i].end);
  }
  commit(agreed_);
  partial_.assign(rest.begin() + static_cast<std::ptrdiff_t>(agreed), rest.end());
  return {committed_, partial_};
}

std::span<const HypToken> LocalAgreement::flush() {
  // commit() reads its argument while writing committed_, so the partial goes through it.
  commit(partial_);
  partial_.clear();
  return committed_;
}

std::span<const HypToken> LocalAgreement::trim(double time) {
  removed_.clear();
  std::size_t k = 0;
  while (k < in_buffer_.size() && in_buffer_[k].end <= time + kTimeEpsilon) {
    removed_.push_back(in_buffer_[k]);
    ++k;
  }
  in_buffer_.erase(in_buffer_.begin(), in_buffer_.begin() + static_cast<std::ptrdiff_t>(k));
  if (committed_segment_end_ <= time + kTimeEpsilon) committed_segment_end_ = -1.0;
  return removed_;
}

void LocalAgreement::reset() {
  in_buffer_.clear();
  partial_.clear();
  committed_segment_end_ = -1.0;
}

}  // namespace earshot::nodes::caption
