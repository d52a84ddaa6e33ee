// Whisper's log-mel spectrogram, reproducing openai/whisper's log_mel_spectrogram exactly:
//   audio (16 kHz) -> torch.stft(n_fft 400, hop 160, periodic Hann, center=True, reflect pad)
//   -> drop the last frame -> |X|^2 -> librosa Slaney mel bank (80 or 128 filters)
//   -> log10(max(mel, 1e-10)) -> max(x, max(x) - 8) -> (x + 4) / 4.
// compute() does the whole thing for one 30 s window (pad_or_trim to 480000 samples) and
// yields [n_mels, 3000]. For a sliding window, log_mel_frames() computes the unnormalised
// log10 mel of any buffer length, and normalize() applies Whisper's dynamic-range step over
// whatever frames the caller assembles.
//
// All workspaces are allocated in the constructor; compute(), log_mel_frames() and normalize()
// allocate nothing. One object serves one thread at a time. The budget constructor takes the
// per-frame scratch (window, frame, spectrum, power) from a MemoryBudget instead of the heap,
// for a live node whose workspaces are all accounted; it has no 30 s pad buffer, so it serves
// log_mel_frames() only.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "dsp/fft.hpp"
#include "dsp/mel_filters.hpp"
#include "rt/memory_budget.hpp"

namespace earshot::dsp {

struct WhisperAudio {
  static constexpr std::size_t kSampleRate = 16000;
  static constexpr std::size_t kNFft = 400;
  static constexpr std::size_t kHop = 160;
  static constexpr std::size_t kChunkSeconds = 30;
  static constexpr std::size_t kChunkSamples = kSampleRate * kChunkSeconds;  // 480000
  static constexpr std::size_t kChunkFrames = kChunkSamples / kHop;          // 3000
};

class WhisperLogMel {
 public:
  // n_mels: 80 (Whisper v1/v2, turbo uses 128) or 128 (large-v3); any positive count works.
  // max_samples: the longest buffer log_mel_frames() will be given.
  explicit WhisperLogMel(std::size_t n_mels, std::size_t max_samples = WhisperAudio::kChunkSamples);
  // Scratch reserved from `budget` (throws rt::BudgetExceeded); compute() is not available.
  WhisperLogMel(std::size_t n_mels, std::size_t max_samples, rt::MemoryBudget& budget);
  WhisperLogMel(const WhisperLogMel&) = delete;
  WhisperLogMel& operator=(const WhisperLogMel&) = delete;

  // Bytes the budget constructor reserves (for plans).
  static std::size_t scratch_bytes();

  std::size_t n_mels() const { return bank_.n_mels; }
  const MelFilterbank& filterbank() const { return bank_; }

  // Frames produced for n samples: torch.stft gives 1 + n/160 centred frames, Whisper drops
  // the last one, leaving n/160.
  static std::size_t frames_for(std::size_t n_samples) { return n_samples / WhisperAudio::kHop; }

  // whisper.log_mel_spectrogram(whisper.pad_or_trim(audio), n_mels): audio longer than 30 s is
  // cut, shorter is zero-padded. out: n_mels * 3000 floats, [mel][frame]. Throws
  // std::logic_error on an object made by the budget constructor.
  void compute(std::span<const float> audio, std::span<float> out);

  // log10(max(mel power, 1e-10)) of frames_for(audio.size()) frames, written
  // out[mel * out_stride + frame] (out_stride >= frames; 0 means frames). The signal edges are
  // reflect-padded as torch does, so only frames at least 200 samples from both ends equal
  // the frames of a longer buffer containing this one. Needs 201 <= audio.size() <= max_samples.
  void log_mel_frames(std::span<const float> audio, std::span<float> out,
                      std::size_t out_stride = 0);

  // Whisper's dynamic-range clamp and scaling, in place over all values given:
  // x = (max(x, max_all - 8) + 4) / 4.
  static void normalize(std::span<float> log_mel);

 private:
  std::size_t max_samples_;
  MelFilterbank bank_;
  RealFft fft_;
  void carve_scratch(float* storage);

  std::vector<float> owned_;  // scratch storage of the heap constructor
  rt::Reservation reserved_;  // ... or of the budget constructor
  std::vector<float> chunk_;  // the 30 s pad_or_trim buffer (heap constructor only)
  // Views into owned_ / reserved_, each 64-byte aligned (FFTW's SIMD plan).
  std::span<float> window_;
  std::span<float> frame_;
  std::span<Complex> spectrum_;
  std::span<float> power_;
};

}  // namespace earshot::dsp
