#include "nodes/caption/ngram_loop.hpp"

#include <algorithm>

namespace earshot::nodes::caption {

std::size_t loop_free_length(std::span<const int> ids, int max_ngram, int max_repeats) {
  const std::size_t len = ids.size();
  if (max_ngram < 1 || max_repeats < 2) return len;
  // The earliest start wins, so the cut keeps as much genuine text as possible.
  for (std::size_t i = 0; i < len; ++i) {
    for (std::size_t n = 1; n <= static_cast<std::size_t>(max_ngram); ++n) {
      const std::size_t needed = n * static_cast<std::size_t>(max_repeats);
      if (i + needed > len) break;
      bool repeated = true;
      for (std::size_t k = n; k < needed && repeated; ++k) repeated = ids[i + k] == ids[i + k % n];
      if (repeated) return i + n;
    }
  }
  return len;
}

}  // namespace earshot::nodes::caption
