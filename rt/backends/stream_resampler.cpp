#include "rt/backends/stream_resampler.hpp"

#include "rt/backends/audio_backend.hpp"

#include <soxr.h>

#include <cmath>
#include <string>

namespace earshot::rt {

StreamResampler::StreamResampler(double input_rate, double output_rate, unsigned channels)
    : input_rate_(input_rate), output_rate_(output_rate), channels_(channels) {
  if (!(input_rate > 0) || !(output_rate > 0) || !std::isfinite(input_rate) ||
      !std::isfinite(output_rate))
    throw BackendError("resampler: sample rates must be positive");
  if (channels == 0) throw BackendError("resampler: needs at least one channel");
  soxr_error_t error = nullptr;
  const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
  const soxr_quality_spec_t quality = soxr_quality_spec(SOXR_HQ, 0);
  soxr_ = soxr_create(input_rate, output_rate, channels, &error, &io, &quality, nullptr);
  if (error != nullptr || soxr_ == nullptr)
    throw BackendError("resampler: cannot convert " + std::to_string(input_rate) + " Hz to " +
                       std::to_string(output_rate) + " Hz: " + (error ? error : "unknown error"));
}

StreamResampler::~StreamResampler() {
  soxr_delete(soxr_);
}

std::size_t StreamResampler::max_output_frames(std::size_t input_frames) const {
  return static_cast<std::size_t>(std::ceil(static_cast<double>(input_frames) * ratio())) + 64;
}

std::size_t StreamResampler::process(const float* input, std::size_t input_frames,
                                     std::size_t& consumed, float* output,
                                     std::size_t output_capacity) {
  std::size_t produced = 0;
  consumed = 0;
  const soxr_error_t error =
      soxr_process(soxr_, input, input_frames, &consumed, output, output_capacity, &produced);
  if (error != nullptr) throw BackendError(std::string("resampler: ") + error);
  return produced;
}

std::size_t StreamResampler::flush(float* output, std::size_t output_capacity) {
  std::size_t produced = 0;
  const soxr_error_t error =
      soxr_process(soxr_, nullptr, 0, nullptr, output, output_capacity, &produced);
  if (error != nullptr) throw BackendError(std::string("resampler: ") + error);
  return produced;
}

}  // namespace earshot::rt
