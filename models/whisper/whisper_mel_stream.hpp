// The log-mel of an audio file served window by window, so memory stays the same for a
// one-minute or a ten-hour recording (openai/whisper loads the whole file and its whole mel).
//
// The result equals whisper_log_mel_padded() of the whole file, value for value:
//  - pass 1 (constructor) streams the file once (libsndfile blocks -> NaN/Inf read as 0 ->
//    channel mean -> libsoxr to 16 kHz, as dsp::read_audio_mono_16k) and computes every frame
//    of the recording plus 30 s of silence, keeping only the global maximum that Whisper's
//    normalisation needs;
//  - pass 2 (read()) streams it again, computing each requested window's frames from a
//    sliding sample buffer with 3 frames of margin on each side (a frame depends on the 400
//    samples around its centre; the signal's own edges are reflect-padded as in the whole
//    computation), then normalises with the global maximum.
// Windows must be requested in non-decreasing order of their start (transcribe()'s seek).
#pragma once

#include "models/whisper/whisper_transcribe.hpp"

#include <cstddef>
#include <filesystem>
#include <memory>

namespace earshot::models::whisper {

class WhisperMelStream final : public MelWindowSource {
 public:
  // Throws dsp::AudioFileError for unreadable files and std::runtime_error for samples so far
  // beyond full scale that the spectrum overflows (the messages name the file).
  WhisperMelStream(const std::filesystem::path& path, int n_mels);
  ~WhisperMelStream() override;

  int n_mels() const override { return n_mels_; }
  int content_frames() const override { return content_frames_; }
  void read(int seek, int size, float* window) override;

  // Samples of the recording at 16 kHz, and how many NaN/Inf samples were read as 0.
  std::size_t samples() const { return samples_; }
  std::size_t non_finite_replaced() const { return non_finite_; }

 private:
  class Signal;
  // Unnormalised log-mel of frames [f0, f1) (clamped to the padded recording) into `out`
  // [n_mels, stride]; returns the end frame actually computed.
  int compute_frames(Signal& signal, int f0, int f1, float* out, int stride);

  std::filesystem::path path_;
  int n_mels_;
  struct Mel;
  std::unique_ptr<Mel> mel_;
  std::unique_ptr<Signal> signal_;  // pass 2's reader
  float peak_ = 0.0f;
  std::size_t samples_ = 0;
  std::size_t non_finite_ = 0;
  int total_frames_ = 0;  // recording + 30 s of padding
  int content_frames_ = 0;
};

}  // namespace earshot::models::whisper
