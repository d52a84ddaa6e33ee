#include "dsp/resampler.hpp"

#include <soxr.h>

#include <cmath>
#include <stdexcept>
#include <string>

namespace earshot::dsp {

struct Resampler::State {
  soxr_t soxr = nullptr;
  ~State() {
    if (soxr != nullptr) soxr_delete(soxr);
  }
};

Resampler::Resampler(double in_rate, double out_rate, std::size_t channels)
    : in_rate_(in_rate),
      out_rate_(out_rate),
      channels_(channels),
      state_(std::make_unique<State>()) {
  if (!(in_rate > 0) || !(out_rate > 0) || !std::isfinite(in_rate) || !std::isfinite(out_rate))
    throw std::invalid_argument("Resampler: sample rates must be positive, got " +
                                std::to_string(in_rate) + " -> " + std::to_string(out_rate));
  if (channels == 0 || channels > 1024)
    throw std::invalid_argument("Resampler: channel count must be 1..1024, got " +
                                std::to_string(channels));
  const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
  const soxr_quality_spec_t quality = soxr_quality_spec(SOXR_HQ, 0);
  const soxr_runtime_spec_t runtime = soxr_runtime_spec(1);  // our threads, not soxr's
  soxr_error_t error = nullptr;
  state_->soxr = soxr_create(in_rate, out_rate, static_cast<unsigned>(channels), &error, &io,
                             &quality, &runtime);
  if (error != nullptr || state_->soxr == nullptr)
    throw std::runtime_error(std::string("Resampler: libsoxr refused ") + std::to_string(in_rate) +
                             " -> " + std::to_string(out_rate) +
                             " Hz: " + (error != nullptr ? error : "unknown error"));
}

Resampler::~Resampler() = default;
Resampler::Resampler(Resampler&&) noexcept = default;
Resampler& Resampler::operator=(Resampler&&) noexcept = default;

std::size_t Resampler::output_capacity(std::size_t input_frames) const {
  // soxr never emits more than ceil(input * ratio) per call plus what it held back; the
  // held-back part is bounded by its filter length. 1024 frames of slack covers it for HQ.
  return static_cast<std::size_t>(
             std::ceil(static_cast<double>(input_frames) * out_rate_ / in_rate_)) +
         1024;
}

std::size_t Resampler::process(std::span<const float> in, std::span<float> out) {
  if (in.size() % channels_ != 0 || out.size() % channels_ != 0)
    throw std::invalid_argument("Resampler::process: buffer sizes must be multiples of " +
                                std::to_string(channels_) + " channels");
  const std::size_t in_frames = in.size() / channels_;
  const std::size_t out_frames = out.size() / channels_;
  if (out_frames < output_capacity(in_frames))
    throw std::invalid_argument("Resampler::process: output room for " +
                                std::to_string(out_frames) + " frames, need " +
                                std::to_string(output_capacity(in_frames)));
  if (in_frames == 0) return 0;
  std::size_t consumed = 0;
  std::size_t produced = 0;
  soxr_error_t error = soxr_process(state_->soxr, in.data(), in_frames, &consumed, out.data(),
                                    out_frames, &produced);
  if (error != nullptr) throw std::runtime_error(std::string("Resampler::process: ") + error);
  if (consumed != in_frames)
    throw std::runtime_error("Resampler::process: libsoxr consumed " + std::to_string(consumed) +
                             " of " + std::to_string(in_frames) + " frames");
  return produced;
}

std::size_t Resampler::flush(std::span<float> out) {
  if (out.size() % channels_ != 0)
    throw std::invalid_argument("Resampler::flush: buffer size must be a multiple of " +
                                std::to_string(channels_) + " channels");
  std::size_t produced = 0;
  // A null input tells soxr the stream has ended.
  soxr_error_t error = soxr_process(state_->soxr, nullptr, 0, nullptr, out.data(),
                                    out.size() / channels_, &produced);
  if (error != nullptr) throw std::runtime_error(std::string("Resampler::flush: ") + error);
  return produced;
}

void Resampler::reset() {
  soxr_error_t error = soxr_clear(state_->soxr);
  if (error != nullptr) throw std::runtime_error(std::string("Resampler::reset: ") + error);
}

std::vector<float> resample(const std::vector<float>& in, std::size_t channels, double in_rate,
                            double out_rate) {
  if (channels == 0) throw std::invalid_argument("resample: channel count must be > 0");
  if (in.size() % channels != 0)
    throw std::invalid_argument("resample: " + std::to_string(in.size()) +
                                " samples are not a whole number of " + std::to_string(channels) +
                                "-channel frames");
  if (in_rate == out_rate && in_rate > 0) return in;
  Resampler resampler(in_rate, out_rate, channels);
  const std::size_t in_frames = in.size() / channels;
  std::vector<float> out(resampler.output_capacity(in_frames) * channels);
  std::size_t frames = resampler.process(in, out);
  // Drain the filter delay; each call may produce at most the remaining room.
  for (;;) {
    if ((out.size() / channels) - frames < 4096) out.resize(out.size() + 8192 * channels);
    const std::size_t more = resampler.flush(std::span<float>(out).subspan(frames * channels));
    if (more == 0) break;
    frames += more;
  }
  out.resize(frames * channels);
  return out;
}

}  // namespace earshot::dsp
