#include "nodes/caption/whisper_window_transcriber.hpp"

#include "dsp/log_mel.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

namespace earshot::nodes::caption {
namespace {

namespace ww = models::whisper;

constexpr std::size_t kWindowSamples = dsp::WhisperAudio::kChunkSamples;  // 30 s
constexpr int kWindowFrames = static_cast<int>(dsp::WhisperAudio::kChunkFrames);

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

WhisperWindowTranscriber::WhisperWindowTranscriber(const ww::WhisperModel& model,
                                                   std::string language, bool translate)
    : model_(model) {
  dopt_.translate = translate;
  dopt_.language = std::move(language);
}

WhisperWindowTranscriber::~WhisperWindowTranscriber() = default;

void WhisperWindowTranscriber::prepare(rt::MemoryBudget& budget, ww::Parallel* parallel) {
  const ww::WhisperConfig& c = model_.config;
  if (c.n_mel_frames() != kWindowFrames)
    throw std::invalid_argument("caption: the model's encoder does not take 30 s windows");
  mel_ = budget.reserve_array<float>("caption log-mel window",
                                     static_cast<std::size_t>(c.n_mels) * kWindowFrames);
  features_ = budget.reserve_array<float>("caption audio features",
                                          static_cast<std::size_t>(c.n_audio_ctx) * c.d_model);
  encoder_.emplace(model_, budget, parallel);
  decoding_.emplace(model_, budget, 1, parallel);
  // set_audio() packs the cross-attention K/V products into the encoder's GEMM workspaces (the
  // same threads, taking turns), so a full 30 s context pass allocates nothing either.
  decoding_->set_gemm_workspaces(encoder_->gemm_workspaces());
  log_mel_ = std::make_unique<dsp::WhisperLogMel>(static_cast<std::size_t>(c.n_mels),
                                                  kWindowSamples, budget);

  if (dopt_.language.empty() && !model_.tokens.multilingual) dopt_.language = "en";
  if (!dopt_.language.empty() && model_.tokens.multilingual)
    model_.tokens.language_token(dopt_.language);  // unknown codes fail here, not mid-stream
  dopt_.without_timestamps = false;  // timestamps place tokens in time and mark segment ends
  dopt_.prompt.reserve(static_cast<std::size_t>(c.n_text_ctx / 2));
  // The model's suppress list, then the timestamps a reduced context never saw (its size is
  // kept constant, see limit_timestamps()).
  dopt_.suppress_tokens = c.suppress_tokens;
  base_suppress_ = dopt_.suppress_tokens.size();
  dopt_.suppress_tokens.reserve(base_suppress_ + static_cast<std::size_t>(c.n_audio_ctx) + 1);
  result_.tokens.reserve(static_cast<std::size_t>(c.n_text_ctx) + 1);
}

void WhisperWindowTranscriber::limit_timestamps(int n_ctx) {
  // Timestamp index i means i * 20 ms; past n_ctx positions the decoder saw no audio at all.
  // The list always has the same length (padded with a token that is suppressed anyway), so
  // the decoder's copy of it reaches its final capacity on the first pass and never grows.
  const ww::SpecialTokenIds& ids = model_.tokens;
  const int full = model_.config.n_audio_ctx;
  std::vector<int>& list = dopt_.suppress_tokens;
  list.resize(base_suppress_);
  for (int i = n_ctx + 1; i <= full; ++i) list.push_back(ids.timestamp_begin + i);
  while (list.size() < base_suppress_ + static_cast<std::size_t>(full))
    list.push_back(ids.no_speech);
}

std::span<const float> WhisperWindowTranscriber::last_features() const {
  return features_.as<float>().first(static_cast<std::size_t>(last_ctx_) *
                                     static_cast<std::size_t>(model_.config.d_model));
}

const ww::DecodingResult& WhisperWindowTranscriber::transcribe(const WindowRequest& r,
                                                               PassTimes& times) {
  const ww::WhisperConfig& c = model_.config;
  const int n_ctx = r.n_ctx;
  const int n_frames = 2 * n_ctx;
  last_ctx_ = n_ctx;
  // The window is zero beyond its end, so the log-mel of its first n_frames frames equals
  // the first frames of the padded 30 s window's (pad_or_trim + log_mel_spectrogram). Only
  // the frames that reach audio are computed: a frame of nothing but zero padding is
  // log10(max(0, 1e-10)) in every bin, written as that constant (a full context used to
  // spend most of its log-mel on them). The frames computed take 159 samples past the last
  // one's hop, so they read the real (zero) continuation instead of a reflection and stay
  // identical to the 30 s computation; only at 3000 frames is the end reflected, as there.
  const std::span<float> mel =
      mel_.as<float>().first(static_cast<std::size_t>(c.n_mels) * n_frames);
  constexpr std::size_t kHop = dsp::WhisperAudio::kHop;
  const std::size_t reach = (r.window_len + dsp::WhisperAudio::kNFft / 2) / kHop + 1;
  const std::size_t live = std::min(static_cast<std::size_t>(n_frames), reach);
  const std::size_t n_samples = std::min(kWindowSamples, live * kHop + kHop - 1);
  const std::size_t computed = dsp::WhisperLogMel::frames_for(n_samples);  // live, or 3000
  double t = now_seconds();
  log_mel_->log_mel_frames(r.audio.first(n_samples), mel, static_cast<std::size_t>(n_frames));
  const float no_audio = std::log10(std::max(0.0f, 1e-10f));
  for (int m = 0; m < c.n_mels; ++m) {
    float* row = mel.data() + static_cast<std::size_t>(m) * n_frames;
    std::fill(row + computed, row + n_frames, no_audio);
  }
  // Whisper's clamp at max - 8: frames dropped past the context are zero audio (log10 of
  // 1e-10, the lowest value possible), so the maximum is the same as over 30 s.
  dsp::WhisperLogMel::normalize(mel);
  times.mel_seconds += now_seconds() - t;
  t = now_seconds();
  float* features = features_.as<float>().data();
  encoder_->forward(mel.data(), c.n_mels, n_frames, features);
  decoding_->set_audio(features, n_ctx);
  times.encoder_seconds += now_seconds() - t;
  t = now_seconds();
  if (dopt_.language.empty()) {
    // Detected once, on the first audio heard, then fixed: a language flipping between
    // passes would make consecutive hypotheses disagree forever.
    const auto probs = decoding_->detect_language();
    dopt_.language = std::max_element(probs.begin(), probs.end(), [](auto& a, auto& b) {
                       return a.second < b.second;
                     })->first;
  }
  dopt_.prompt.assign(r.prompt.begin(), r.prompt.end());
  dopt_.sample_len = r.sample_len;
  limit_timestamps(n_ctx);
  decoding_->decode_into(dopt_, result_);
  times.decode_seconds += now_seconds() - t;
  return result_;
}

}  // namespace earshot::nodes::caption
