// The caption node's production transcriber: Whisper over the window, on a reduced or the full
// audio context.
//
//   window audio -> log-mel of the frames the context covers -> encoder (n_ctx positions)
//   -> greedy decode with timestamps (timestamps past n_ctx suppressed), prompted with the
//   committed text that left the window
//
// Everything (mel, encoder output, encoder and decoder workspaces, KV caches, the result) is
// reserved in prepare(); once warm (the first pass, which may detect the language) a pass
// allocates nothing.
#pragma once

#include "nodes/caption/window_transcriber.hpp"

#include "models/whisper/whisper_encoder.hpp"

#include <memory>
#include <optional>
#include <vector>

namespace earshot::dsp {
class WhisperLogMel;
}

namespace earshot::nodes::caption {

class WhisperWindowTranscriber final : public WindowTranscriber {
 public:
  // `model` must outlive the transcriber. language "" = "en" for English-only models, else
  // detected on the first pass; unknown codes fail in prepare().
  WhisperWindowTranscriber(const models::whisper::WhisperModel& model, std::string language,
                           bool translate);
  ~WhisperWindowTranscriber() override;

  void prepare(rt::MemoryBudget& budget, models::whisper::Parallel* parallel) override;
  const models::whisper::DecodingResult& transcribe(const WindowRequest& request,
                                                    PassTimes& times) override;
  const std::string& language() const override { return dopt_.language; }

  // The last pass's options and the encoder output it attended over [n_ctx, d_model] (tests
  // replay a pass's Whisper calls from these).
  const models::whisper::DecodingOptions& last_options() const { return dopt_; }
  std::span<const float> last_features() const;
  const models::whisper::DecodingResult& last_result() const { return result_; }

 private:
  // Suppresses the timestamps past `n_ctx` positions: the decoder saw no audio there.
  void limit_timestamps(int n_ctx);

  const models::whisper::WhisperModel& model_;
  std::optional<models::whisper::WhisperEncoder> encoder_;
  std::optional<models::whisper::WhisperDecoding> decoding_;
  std::unique_ptr<dsp::WhisperLogMel> log_mel_;
  rt::Reservation mel_;       // [n_mels, n_frames], n_frames = 2 * audio context <= 3000
  rt::Reservation features_;  // [n_audio_ctx, d_model]
  models::whisper::DecodingOptions dopt_;
  models::whisper::DecodingResult result_;  // reused by every pass (decode_into)
  std::size_t base_suppress_ = 0;           // dopt_.suppress_tokens: the model's, then timestamps
  int last_ctx_ = 0;
};

}  // namespace earshot::nodes::caption
