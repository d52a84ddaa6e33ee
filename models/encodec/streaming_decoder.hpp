// Streaming EnCodec decoder for causal models (facebook/encodec_24khz): code frames go in a few at
// a time, audio comes out as soon as it is determined.
//
// Every stage keeps exactly the state that makes the concatenated output equal the offline
// decode of the whole sequence:
//   - a causal convolution keeps its last (effective kernel - 1) input rows (left context);
//   - the LSTM keeps h and c of each layer;
//   - a transposed convolution keeps its overlap tail (kernel - stride output rows), to which the
//     next input step adds before those rows are emitted;
//   - a residual block holds its shortcut rows until the convolution branch catches up.
//
// The one place that waits is the stream's START: the reference pads a causal convolution on the
// left by REFLECTING its input (x[P], ..., x[1] before x[0], P = effective kernel - 1), so the
// first outputs depend on input row P. Each convolution therefore holds its first P rows until
// row P arrives; for the published 24 kHz model the first decoder conv (kernel 7) delays the
// start by 6 frames (80 ms) and the rest by a few samples. After that every frame's 320 samples
// come out with the frame that determines them.
//
// End of stream (finish): the reference's causal convolutions add no right padding at stride 1
// and the transposed convolutions trim exactly their overlap tail (kernel - stride rows, all on
// the right), so nothing more is determined: finish() emits only rows still held at the start
// (streams shorter than P + 1 rows at some stage, where the reference's reflect padding falls
// back to zero-extending the input first; this is reproduced exactly). For a stream of F frames:
//   concat(push outputs, finish output) == offline decoder(F frames) = F * hop samples,
// equal up to float rounding (the same products, in different tile shapes). The offline
// EncodecModel::decode additionally trims to the original audio length, which the codes alone
// do not carry.
//
// All buffers come from the MemoryBudget at construction, sized by the largest push
// (max_frames_per_push); their size does not depend on the stream's length, so any stream
// length is supported, and push()/finish() allocate nothing.
#pragma once

#include "models/encodec/encodec_model.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace earshot::encodec {

// Where push() spends its time, for benchmarks: thread CPU time per stage (summed over pushes)
// and the weight bytes each stage reads per push. Costs two clock reads per stage when enabled.
struct StreamingProfile {
  struct Stage {
    std::string name;
    std::int64_t push_bytes = 0;   // weight bytes read once per push
    std::int64_t frame_bytes = 0;  // weight bytes read once per frame (the LSTM recurrence)
    double cpu_s = 0;
  };
  std::vector<Stage> stages;
  std::int64_t pushes = 0;
  std::int64_t frames = 0;
  void clear();  // zeroes the times and the push count
};

class StreamingDecoder {
 public:
  // Throws std::invalid_argument for a non-causal model (48 kHz), n_q out of range or
  // max_frames_per_push < 1; BudgetExceeded if the state does not fit.
  // `parallel` (nullptr: the calling thread) splits each push's products across a team; give
  // one only to a decoder running on a worker thread (ThreadTeam::run waits).
  StreamingDecoder(const EncodecModel& model, rt::MemoryBudget& budget, int n_q,
                   std::int64_t max_frames_per_push, rt::Parallel* parallel = nullptr);
  ~StreamingDecoder();
  StreamingDecoder(const StreamingDecoder&) = delete;
  StreamingDecoder& operator=(const StreamingDecoder&) = delete;

  int n_q() const { return n_q_; }
  int channels() const { return channels_; }
  std::int64_t max_frames_per_push() const { return max_frames_; }
  // Capacity `out` must have (samples per channel) for any push() or finish().
  std::int64_t max_output_samples() const;
  // Frames the start waits for before the first sample comes out (6 for the published model).
  std::int64_t start_delay_frames() const;

  // codes: `frames` code frames, frame-major (codes[f * n_q + q]). Writes the newly determined
  // audio [samples, channels] to `out` and returns the sample count. Throws std::out_of_range
  // for a code outside the codebook (state untouched) and std::invalid_argument for too many
  // frames.
  std::int64_t push(const std::int32_t* codes, std::int64_t frames, float* out);
  // Ends the stream: writes what is still held back and returns its sample count.
  std::int64_t finish(float* out);
  // Forgets the stream (state to zero) for a new one.
  void reset();

  // Starts filling `profile` (its stages are laid out here: allocation happens now, never in
  // push); nullptr stops.
  void enable_profile(StreamingProfile* profile);

  std::int64_t frames_in() const { return frames_in_; }
  std::int64_t samples_out() const { return samples_out_; }

 private:
  std::int64_t run(std::int64_t frames, bool final, float* out);

  struct Stages;
  const EncodecModel& model_;
  int n_q_;
  int channels_;
  std::int64_t max_frames_;
  std::int64_t frames_in_ = 0;
  std::int64_t samples_out_ = 0;
  std::unique_ptr<Stages> stages_;
  StreamingProfile* profile_ = nullptr;
};

}  // namespace earshot::encodec
