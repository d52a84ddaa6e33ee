// Shared by the live-stems and deck tests: the fixture model, its mix, the offline separation
// of a signal with the library, and the README's error metrics.
#pragma once

#include "models/core/safetensors.hpp"
#include "models/htdemucs/separator.hpp"
#include "tests/test_support.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace earshot::test {

inline std::string small4_dir() {
  return fixture("htdemucs/small4").string();
}

// The fixture mix, planar [2][T].
inline std::vector<std::vector<float>> small4_mix() {
  const auto ref = models::SafetensorsFile::open(fixture("htdemucs/small4/ref.safetensors"));
  const auto mix = ref.load_f32("mix");
  const std::size_t T = mix.size() / 2;
  return {std::vector<float>(mix.begin(), mix.begin() + T),
          std::vector<float>(mix.begin() + T, mix.end())};
}

// Offline separation of a planar stereo signal of known length: [source*2 + channel][frame].
inline std::vector<std::vector<float>> separate_offline(htdemucs::ModelBag& bag,
                                                        const std::vector<std::vector<float>>& x,
                                                        rt::MemoryBudget& budget,
                                                        htdemucs::SeparatorOptions options = {}) {
  const auto T = static_cast<std::int64_t>(x[0].size());
  const int S = bag.num_sources();
  htdemucs::ChunkedSeparator sep(bag, T, options, budget);
  std::vector<std::vector<float>> out(static_cast<std::size_t>(S) * 2,
                                      std::vector<float>(static_cast<std::size_t>(T), NAN));
  std::vector<float> frames;
  std::int64_t read = 0;
  while (!sep.done()) {
    if (!sep.ready()) {
      const std::int64_t n = std::min(sep.frames_wanted(), T - read);
      frames.resize(static_cast<std::size_t>(n) * 2);
      for (std::int64_t t = 0; t < n; ++t)
        for (int c = 0; c < 2; ++c) frames[t * 2 + c] = x[c][read + t];
      sep.push(frames.data(), n);
      read += n;
      continue;
    }
    const std::int64_t got = sep.process();
    for (int s = 0; s < S; ++s)
      for (int c = 0; c < 2; ++c)
        std::copy(sep.output(s, c), sep.output(s, c) + got,
                  out[s * 2 + c].begin() + sep.output_start());
  }
  return out;
}

struct Error {
  double max_abs = 0.0;
  double rel_l2 = 0.0;
};

// Accumulates max |got - ref| and ||got - ref|| / ||ref|| over many ranges.
struct ErrorAccumulator {
  double max_abs = 0.0, diff2 = 0.0, ref2 = 0.0;
  std::size_t count = 0;
  void add(float got, float ref) {
    const double d = static_cast<double>(got) - ref;
    if (!(std::fabs(d) <= max_abs)) max_abs = std::fabs(d);  // NaN propagates as a failure
    diff2 += d * d;
    ref2 += static_cast<double>(ref) * ref;
    ++count;
  }
  Error error() const { return {max_abs, ref2 > 0 ? std::sqrt(diff2 / ref2) : INFINITY}; }
};

}  // namespace earshot::test
