// Runs a node at its own sample rate inside a pipeline at the device's rate (e.g. a 16 kHz
// Whisper node behind a 48 kHz JACK server): device-rate blocks are converted to the node's
// rate (libsoxr), the node runs on its own block size, and its output is converted back.
//
// Latency stays exact and reported. Streaming resamplers emit output later than input arrives
// (their filters need look-ahead), so at construction a dry run with silence finds the largest
// shortfall D between frames owed and frames produced over two seconds of blocks (the counts
// depend only on block sizes, never on the signal). The output is primed with D frames of
// silence, so it never runs dry and output frame t is the input at t - latency_frames(), where
// latency_frames() = D plus the inner node's latency converted to the device rate.
#pragma once

#include "rt/backends/ring_pipeline.hpp"
#include "rt/backends/stream_resampler.hpp"

#include <cstdint>
#include <vector>

namespace earshot::rt {

class ResamplingNode final : public BlockNode {
 public:
  // `inner` runs at `inner_rate` on its own block_frames(); this node takes blocks of
  // `outer_block` frames at `outer_rate`. Allocates everything here.
  ResamplingNode(BlockNode& inner, double outer_rate, double inner_rate, std::uint32_t in_channels,
                 std::uint32_t out_channels, std::uint32_t outer_block);

  std::uint32_t block_frames() const override { return outer_block_; }
  std::uint32_t latency_frames() const override { return latency_; }
  void process(const float* in, std::uint32_t in_channels, float* out, std::uint32_t out_channels,
               std::uint32_t frames) noexcept override;

  // Outer blocks that found the converted output short (should stay 0; see the header note).
  std::uint64_t shortfalls() const { return shortfalls_; }

 private:
  // Interleaved frames in a preallocated vector; consumed from the front, compacted on demand.
  struct Fifo {
    std::vector<float> data;
    std::uint32_t channels = 1;
    std::size_t begin = 0, end = 0;
    std::size_t size() const { return end - begin; }
    std::size_t space() const { return data.size() / channels - end; }
    float* head() { return data.data() + begin * channels; }
    float* tail() { return data.data() + end * channels; }
    void compact();
  };
  static std::uint32_t measure_priming(double outer_rate, double inner_rate,
                                       std::uint32_t outer_block, std::uint32_t inner_block);

  BlockNode& inner_;
  const std::uint32_t in_channels_, out_channels_, outer_block_, inner_block_;
  StreamResampler down_, up_;
  Fifo inner_in_, outer_out_;
  std::vector<float> inner_out_;
  std::uint32_t latency_ = 0;
  std::uint64_t shortfalls_ = 0;
};

}  // namespace earshot::rt
