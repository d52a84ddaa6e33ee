// Streaming sample-rate conversion (libsoxr, high quality), interleaved float.
//
// Lives in rt/backends because the file backend needs it and rt/ may not include dsp/ headers
// (layering). dsp/ has its own resampler for nodes. The converter is created once; process()
// does not allocate (soxr works in buffers it sized at creation), so it may run on a worker.
// Output is time-aligned with the input (soxr compensates its own filter delay); call flush()
// after the last input to get the tail.
#pragma once

#include <cstddef>

struct soxr;

namespace earshot::rt {

class StreamResampler {
 public:
  StreamResampler(double input_rate, double output_rate, unsigned channels);
  ~StreamResampler();
  StreamResampler(const StreamResampler&) = delete;
  StreamResampler& operator=(const StreamResampler&) = delete;

  double ratio() const { return output_rate_ / input_rate_; }
  unsigned channels() const { return channels_; }
  // An output capacity that always suffices for `input_frames` of input.
  std::size_t max_output_frames(std::size_t input_frames) const;

  // Consumes input frames (sets `consumed`; fewer than given when the output is full) and
  // writes at most `output_capacity` frames; returns how many it wrote.
  std::size_t process(const float* input, std::size_t input_frames, std::size_t& consumed,
                      float* output, std::size_t output_capacity);
  // Drains the filter's tail after the last input; returns frames written (0 once empty).
  std::size_t flush(float* output, std::size_t output_capacity);

 private:
  soxr* soxr_ = nullptr;
  double input_rate_, output_rate_;
  unsigned channels_;
};

}  // namespace earshot::rt
