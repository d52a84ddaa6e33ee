#include "rt/backends/resampling_node.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace earshot::rt {

namespace {
constexpr double kDryRunSeconds = 2.0;
}

void ResamplingNode::Fifo::compact() {
  if (begin == 0) return;
  std::memmove(data.data(), head(), size() * channels * sizeof(float));
  end -= begin;
  begin = 0;
}

// Dry run on silence with the same block sizes: the largest number of outer frames owed but not
// yet produced, which is how much the output must be primed with.
std::uint32_t ResamplingNode::measure_priming(double outer_rate, double inner_rate,
                                              std::uint32_t outer_block,
                                              std::uint32_t inner_block) {
  StreamResampler down(outer_rate, inner_rate, 1), up(inner_rate, outer_rate, 1);
  std::vector<float> in(outer_block, 0.0f);
  std::vector<float> mid(down.max_output_frames(outer_block) + inner_block, 0.0f);
  std::vector<float> back(up.max_output_frames(inner_block), 0.0f);
  std::size_t mid_frames = 0;
  std::uint64_t owed = 0, produced = 0;
  std::int64_t worst = 0;
  const auto calls = static_cast<std::size_t>(std::ceil(kDryRunSeconds * outer_rate / outer_block));
  for (std::size_t k = 0; k < calls; ++k) {
    std::size_t consumed = 0;
    mid_frames += down.process(in.data(), outer_block, consumed, mid.data() + mid_frames,
                               mid.size() - mid_frames);
    while (mid_frames >= inner_block) {
      mid_frames -= inner_block;
      std::size_t used = 0;
      produced += up.process(mid.data(), inner_block, used, back.data(), back.size());
    }
    owed += outer_block;
    worst = std::max(worst, static_cast<std::int64_t>(owed) - static_cast<std::int64_t>(produced));
  }
  return static_cast<std::uint32_t>(std::max<std::int64_t>(worst, 0));
}

ResamplingNode::ResamplingNode(BlockNode& inner, double outer_rate, double inner_rate,
                               std::uint32_t in_channels, std::uint32_t out_channels,
                               std::uint32_t outer_block)
    : inner_(inner),
      in_channels_(in_channels),
      out_channels_(out_channels),
      outer_block_(outer_block),
      inner_block_(inner.block_frames()),
      down_(outer_rate, inner_rate, in_channels),
      up_(inner_rate, outer_rate, out_channels) {
  if (outer_block == 0 || inner_block_ == 0)
    throw BackendError("resampling node: block sizes must be positive");
  const std::uint32_t priming = measure_priming(outer_rate, inner_rate, outer_block, inner_block_);
  const auto inner_latency =
      static_cast<std::uint32_t>(std::lround(inner.latency_frames() * outer_rate / inner_rate));
  latency_ = priming + inner_latency;

  inner_in_.channels = in_channels;
  inner_in_.data.assign((down_.max_output_frames(outer_block) + inner_block_) * in_channels, 0.0f);
  inner_out_.assign(static_cast<std::size_t>(inner_block_) * out_channels, 0.0f);
  // Room for the priming, one outer block, and every inner block one call can produce.
  const std::size_t inner_blocks_per_call = inner_in_.data.size() / in_channels / inner_block_ + 1;
  outer_out_.channels = out_channels;
  outer_out_.data.assign(
      (priming + outer_block + inner_blocks_per_call * up_.max_output_frames(inner_block_)) *
          out_channels,
      0.0f);
  outer_out_.end = priming;  // primed with silence
}

void ResamplingNode::process(const float* in, std::uint32_t, float* out, std::uint32_t,
                             std::uint32_t frames) noexcept {
  try {
    // Outer -> inner rate. soxr consumes everything unless its output is full; the FIFO was
    // sized so it never is, but loop anyway rather than drop input.
    std::size_t fed = 0;
    while (fed < frames) {
      inner_in_.compact();
      std::size_t consumed = 0;
      inner_in_.end += down_.process(in + fed * in_channels_, frames - fed, consumed,
                                     inner_in_.tail(), inner_in_.space());
      fed += consumed;
      // Run the inner node on every complete block, converting its output back.
      while (inner_in_.size() >= inner_block_) {
        inner_.process(inner_in_.head(), in_channels_, inner_out_.data(), out_channels_,
                       inner_block_);
        inner_in_.begin += inner_block_;
        std::size_t done = 0;
        while (done < inner_block_) {
          outer_out_.compact();
          std::size_t used = 0;
          outer_out_.end +=
              up_.process(inner_out_.data() + done * out_channels_, inner_block_ - done, used,
                          outer_out_.tail(), outer_out_.space());
          done += used;
          if (used == 0 && outer_out_.space() == 0) break;  // cannot happen with the sizing
        }
      }
      if (consumed == 0) break;
    }
  } catch (...) {
    // soxr reports errors only for invalid arguments, which the constructor ruled out.
  }
  const std::size_t n = std::min<std::size_t>(frames, outer_out_.size());
  std::memcpy(out, outer_out_.head(), n * out_channels_ * sizeof(float));
  std::fill(out + n * out_channels_, out + static_cast<std::size_t>(frames) * out_channels_, 0.0f);
  outer_out_.begin += n;
  if (n < frames) ++shortfalls_;
}

}  // namespace earshot::rt
