// Long audio in 30-second windows, as openai/whisper's transcribe():
//  - the log-mel of the whole recording plus 30 s of silence is computed once and normalised
//    over all of it; each window is a slice of it, zero-padded to 3000 frames;
//  - each window is decoded with temperature fallback (compression ratio > 2.4 or
//    avg_logprob < -1.0 retries at the next temperature, unless no_speech_prob > 0.6 says it
//    is silence); a window judged silent is skipped;
//  - segments come from consecutive timestamp pairs; the next window starts at the last
//    complete timestamp (or after the window when it ends with a single timestamp);
//  - the text decoded so far is the next window's prompt (<|startofprev|>), unless
//    condition_on_previous_text is off or a high temperature (> 0.5) was needed.
// Word timestamps, clip_timestamps and the hallucination-silence heuristic are not implemented.
#pragma once

#include "models/whisper/whisper_decoding.hpp"
#include "models/whisper/whisper_encoder.hpp"

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace earshot::models::whisper {

struct TranscribeOptions {
  DecodingOptions decode;  // language, task, sample_len, beam_size, best_of, timestamps, ...
  std::vector<float> temperatures = {0.0f, 0.2f, 0.4f, 0.6f, 0.8f, 1.0f};
  std::optional<double> compression_ratio_threshold = 2.4;
  std::optional<double> logprob_threshold = -1.0;
  std::optional<double> no_speech_threshold = 0.6;
  bool condition_on_previous_text = true;
  std::vector<int> initial_prompt;  // tokens of " " + prompt text
};

struct TranscriptSegment {
  int seek = 0;  // mel frame where its window started
  double start = 0.0;
  double end = 0.0;
  std::string text;
  std::vector<int> tokens;  // sampled ids incl. timestamps, without prompt or EOT
  float temperature = 0.0f;
  float avg_logprob = 0.0f;
  double compression_ratio = 0.0;
  float no_speech_prob = 0.0f;
};

struct Transcript {
  std::string language;
  std::vector<TranscriptSegment> segments;
};

// The normalised log-mel of a recording (+ 30 s of padding), served one window at a time.
class MelWindowSource {
 public:
  virtual ~MelWindowSource() = default;
  // Mel bins per frame (must be the model's).
  virtual int n_mels() const = 0;
  // Frames of the recording itself (without the padding).
  virtual int content_frames() const = 0;
  // Frames [seek, seek + size) into `window` rows of 3000 floats ([n_mels][3000]); size <= 3000
  // and seek + size <= content_frames() + 3000. Only `size` frames per row are written.
  virtual void read(int seek, int size, float* window) = 0;
};

// A whole mel in memory: [n_mels, n_frames] from whisper_log_mel_padded.
class MelSpanSource final : public MelWindowSource {
 public:
  MelSpanSource(std::span<const float> mel, int n_mels, int n_frames);
  int n_mels() const override { return n_mels_; }
  int content_frames() const override { return n_frames_ - 3000; }
  void read(int seek, int size, float* window) override;

 private:
  std::span<const float> mel_;
  int n_mels_;
  int n_frames_;
};

// Receives each finished segment as soon as its window is decoded.
using SegmentSink = std::function<void(TranscriptSegment&&)>;
// After each window: mel frames done of the total (for progress and ETA).
using ProgressSink = std::function<void(int frames_done, int frames_total)>;

// log_mel_spectrogram(audio, n_mels, padding=480000): [n_mels, frames], frames =
// (audio.size() + 480000) / 160, normalised over the whole padded recording.
std::vector<float> whisper_log_mel_padded(std::span<const float> audio_16k, int n_mels);

class WhisperTranscriber {
 public:
  // Reserves the encoder workspace, one window of mel and features, and the decoder for
  // max_group sequences (beam size / best_of).
  // `parallel` (optional, not owned): the threads the encoder and decoder split work over.
  WhisperTranscriber(const WhisperModel& model, rt::MemoryBudget& budget, int max_group = 5,
                     Parallel* parallel = nullptr);

  void set_text_decoder(TextDecoder decoder);

  // What the constructor reserves, for checking a whole run's plan before loading anything.
  static std::vector<rt::PlanItem> plan(const WhisperConfig& config, int max_group, int workers);

  // mel: [n_mels, n_frames] from whisper_log_mel_padded (the last 3000 frames are padding).
  Transcript transcribe(std::span<const float> mel, int n_frames, const TranscribeOptions& options);
  // The same over any window source, handing segments to `on_segment` as they are decoded (so
  // a long recording's transcript need not be held). Returns the language.
  std::string transcribe(MelWindowSource& source, const TranscribeOptions& options,
                         const SegmentSink& on_segment, const ProgressSink& on_progress = {});
  // Encoder + decode with temperature fallback of one mel window [n_mels, 3000] into `result`
  // (transcribe()'s per-window step). `decode`'s temperature, beam_size and best_of are
  // changed during the call and restored. Without a text decoder this allocates nothing once
  // `result` has grown.
  void decode_window_with_fallback(const float* mel_window, const TranscribeOptions& options,
                                   DecodingOptions& decode, DecodingResult& result);
  // The decode of one 30 s mel window [n_mels, 3000] (encoder + decode), for tests and tools.
  DecodingResult decode_window(const float* mel_window, const DecodingOptions& options);
  // Language probabilities of one mel window.
  std::vector<std::pair<std::string, float>> detect_language(const float* mel_window);

 private:
  void decode_with_fallback(const TranscribeOptions& options, DecodingOptions& decode,
                            DecodingResult& result);
  void encode(const float* mel_window);

  const WhisperModel& model_;
  WhisperEncoder encoder_;
  WhisperDecoding decoding_;
  rt::Reservation window_;    // [n_mels, 3000]
  rt::Reservation features_;  // [n_audio_ctx, d]
  TextDecoder text_decoder_;
};

}  // namespace earshot::models::whisper
