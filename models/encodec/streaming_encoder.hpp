// Streaming EnCodec encoder for causal models (facebook/encodec_24khz): audio goes in a block at
// a time, code frames come out as soon as they are determined, and memory does not grow with the
// stream (all state is reserved from the MemoryBudget at construction).
//
// The mirror of StreamingDecoder: every stride-1 convolution keeps its left context, each
// downsampling convolution keeps the rows of its next stride window, the LSTM keeps h and c, a
// residual block holds its shortcut rows until the branch catches up. Frame t (hop samples) is
// determined once sample (t + 1) * hop - 1 has arrived, except at the START: the reference pads
// each causal convolution on the left by reflecting its input, and the last convolution (kernel 7
// at frame rate) needs frame 6 before frame 0, so the first codes come out after 7 frames
// (2240 samples, 93 ms at 24 kHz); after that every push of hop samples yields one frame.
//
// Stream END (finish): the downsampling convolutions complete their last stride with the
// reference's reflected right padding, giving the last frame, ceil(length / hop) frames in all.
// A stream too short for every stage to have started (under `offline_threshold()` samples,
// 1921 for the published model, where the reference's reflect padding falls back to
// zero-extension) is encoded at finish() with the offline encoder; that one call allocates.
//
//   concat(push outputs, finish output) == EncodecModel::encode(whole input) codes, frame-major;
// the encoder output differs from the offline one only by float rounding (the same products in
// different tile shapes), far below the margin of any decision the fixtures check.
#pragma once

#include "models/encodec/encodec_model.hpp"
#include "rt/thread_team.hpp"

#include <cstdint>
#include <memory>

namespace earshot::encodec {

class StreamingEncoder {
 public:
  // Throws std::invalid_argument for a non-causal or normalizing model (48 kHz: see
  // BlockEncoder), n_q out of range or max_samples_per_push < 1; BudgetExceeded if the state
  // does not fit. `parallel` (nullptr: the calling thread) splits each push's products.
  StreamingEncoder(const EncodecModel& model, rt::MemoryBudget& budget, int n_q,
                   std::int64_t max_samples_per_push, rt::Parallel* parallel = nullptr);
  ~StreamingEncoder();
  StreamingEncoder(const StreamingEncoder&) = delete;
  StreamingEncoder& operator=(const StreamingEncoder&) = delete;

  int n_q() const { return n_q_; }
  int channels() const { return channels_; }
  std::int64_t max_samples_per_push() const { return max_samples_; }
  // Capacity `codes` must have, in frames (n_q codes each), for any push() or finish().
  std::int64_t max_frames_out() const;
  // Streams shorter than this many samples are encoded offline at finish().
  std::int64_t offline_threshold() const { return threshold_; }

  // audio: `samples` samples per channel, interleaved [samples, channels]. Writes the newly
  // determined code frames, frame-major (codes[f * n_q + q]), and returns their count. Throws
  // std::invalid_argument for a non-finite sample or too many samples (state untouched).
  std::int64_t push(const float* audio, std::int64_t samples, std::int32_t* codes);
  // Ends the stream: writes the remaining frames and returns their count (0 for an empty stream).
  std::int64_t finish(std::int32_t* codes);
  // Forgets the stream for a new one.
  void reset();

  std::int64_t samples_in() const { return samples_in_; }
  std::int64_t frames_out() const { return frames_out_; }

 private:
  std::int64_t run(const float* x, std::int64_t n, bool final, std::int32_t* codes);
  std::int64_t feed(const float* x, std::int64_t n, bool final, std::int32_t* codes);

  struct Stages;
  const EncodecModel& model_;
  rt::Parallel* parallel_;
  int n_q_;
  int channels_;
  std::int64_t max_samples_;
  std::int64_t threshold_ = 0;
  std::int64_t samples_in_ = 0;
  std::int64_t frames_out_ = 0;
  bool started_ = false;
  std::unique_ptr<Stages> stages_;
};

}  // namespace earshot::encodec
