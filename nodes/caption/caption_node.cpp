#include "nodes/caption/caption_node.hpp"

#include "dsp/log_mel.hpp"
#include "nodes/caption/ngram_loop.hpp"
#include "nodes/caption/whisper_window_transcriber.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <stdexcept>

namespace earshot::nodes::caption {
namespace {

namespace ww = models::whisper;

constexpr double kRate = 16000.0;
constexpr std::size_t kWindowSamples = dsp::WhisperAudio::kChunkSamples;  // 30 s
constexpr int kWindowFrames = static_cast<int>(dsp::WhisperAudio::kChunkFrames);
constexpr double kTimePrecision = 0.02;  // seconds per timestamp token
// The per-pass token cap: this many, plus this many per second of window (timestamps included).
constexpr int kMinTokensPerPass = 16;
constexpr double kMaxTokensPerSecond = 8.0;
// The worker has caught up when less than this much audio waits (the push included): an early
// confirming pass waits for that, so a worker that fell behind sheds them first.
constexpr double kIdleBacklogSeconds = 0.15;

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

int parse_audio_ctx(const std::string& text) {
  if (text == "auto") return CaptionOptions::kAudioCtxAuto;
  if (text == "full") return CaptionOptions::kAudioCtxFull;
  std::size_t used = 0;
  int n = 0;
  try {
    n = std::stoi(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || n <= 0)
    throw std::invalid_argument(
        "caption: --audio-ctx must be auto, full or a positive count of "
        "encoder positions (20 ms each), got '" +
        text + "'");
  return n;
}

void CaptionOptions::validate() const {
  auto fail = [](const std::string& what) { throw std::invalid_argument("caption: " + what); };
  if (step_ms < 50 || step_ms > 10000) fail("--step-ms must be within 50..10000");
  if (max_tokens < 0 || max_tokens > kMaxEventTokens) fail("max tokens must be within 0..224");
  if (prompt_tokens < 0 || prompt_tokens > 223) fail("prompt tokens must be within 0..223");
  if (!(max_buffer_seconds > 1.0 && max_buffer_seconds <= 30.0))
    fail("the window must be longer than 1 s and at most 30 s");
  if (!(trim_seconds >= 0.0 && trim_seconds < max_buffer_seconds))
    fail("trim_seconds must be within [0, window)");
  if (step_ms / 1000.0 * 2.0 >= max_buffer_seconds) fail("--step-ms must be under half the window");
  if (confirm_ms < 0 || confirm_ms >= step_ms)
    fail("--confirm-ms must be within 0..step-ms (exclusive)");
  if (!(confirm_max_load > 0.0)) fail("the early confirmations' load cap must be positive");
  if (loop_max_ngram < 1 || loop_max_repeats < 2) fail("loop rule needs n >= 1, repeats >= 2");
  if (event_capacity < 4) fail("event queue too small");
  if (audio_ctx < kAudioCtxAuto) fail("--audio-ctx must be auto, full or a positive count");
  if (!(vad_preroll_seconds < 5.0) ||
      vad_preroll_seconds * 1000.0 < vad.min_speech_ms + vad.speech_pad_ms + 32)
    fail("the VAD pre-roll must cover min speech + padding + one window, and be under 5 s");
  vad.validate();
}

CaptionNode::CaptionNode(const ww::WhisperModel& model, CaptionOptions options,
                         const models::vad::SileroWeights* vad_weights)
    : CaptionNode(model, std::move(options), vad_weights,
                  static_cast<WindowTranscriber*>(nullptr)) {}

CaptionNode::CaptionNode(const ww::WhisperModel& model, CaptionOptions options,
                         const models::vad::SileroWeights* vad_weights,
                         WindowTranscriber& transcriber)
    : CaptionNode(model, std::move(options), vad_weights, &transcriber) {}

CaptionNode::CaptionNode(const ww::WhisperModel& model, CaptionOptions options,
                         const models::vad::SileroWeights* vad_weights, WindowTranscriber* given)
    : model_(model), options_(std::move(options)), vad_weights_(vad_weights) {
  options_.validate();
  step_samples_ = static_cast<std::size_t>(options_.step_ms) * 16;
  confirm_samples_ = static_cast<std::size_t>(options_.confirm_ms) * 16;
  if (given == nullptr) {
    whisper_ =
        std::make_unique<WhisperWindowTranscriber>(model_, options_.language, options_.translate);
    given = whisper_.get();
  }
  transcriber_ = given;
}

CaptionNode::~CaptionNode() = default;

void CaptionNode::prepare(rt::MemoryBudget& budget, ww::Parallel* parallel) {
  if (prepared_) throw std::logic_error("caption: prepare() called twice");
  const ww::WhisperConfig& c = model_.config;
  if (c.n_mel_frames() != kWindowFrames)
    throw std::invalid_argument("caption: the model's encoder does not take 30 s windows");
  if (options_.audio_ctx > c.n_audio_ctx)
    throw std::invalid_argument("caption: --audio-ctx " + std::to_string(options_.audio_ctx) +
                                " exceeds the model's " + std::to_string(c.n_audio_ctx) +
                                " encoder positions");
  audio_ = budget.reserve_array<float>("caption audio window (30 s)", kWindowSamples);
  std::fill_n(audio_.as<float>().data(), kWindowSamples, 0.0f);
  transcriber_->prepare(budget, parallel);
  if (vad_weights_ != nullptr) vad_.emplace(*vad_weights_, budget, options_.vad);
  events_ = std::make_unique<rt::ResultQueue<CaptionEvent>>(options_.event_capacity);
  agreement_.emplace(kMaxEventTokens);
  hypothesis_.reserve(kMaxEventTokens);
  ids_.reserve(kMaxEventTokens);
  history_.reserve(static_cast<std::size_t>(options_.prompt_tokens));
  prepared_ = true;
}

int CaptionNode::audio_ctx_for(double seconds) const {
  const int full = model_.config.n_audio_ctx;
  if (options_.audio_ctx == CaptionOptions::kAudioCtxFull) return full;
  // Positions covering the audio plus the margin, whole granules, at least the asked minimum.
  const int needed =
      static_cast<int>(std::ceil((seconds + kAudioCtxMarginSeconds) / kTimePrecision));
  const int rounded = (needed + kAudioCtxGranule - 1) / kAudioCtxGranule * kAudioCtxGranule;
  return std::min(full, std::max(rounded, options_.audio_ctx));
}

const WhisperWindowTranscriber& CaptionNode::own_whisper() const {
  if (!whisper_)
    throw std::logic_error("caption: the node transcribes through a transcriber it was given");
  return *whisper_;
}

const ww::DecodingOptions& CaptionNode::last_decoding_options() const {
  return own_whisper().last_options();
}

std::span<const float> CaptionNode::last_features() const {
  return own_whisper().last_features();
}

double CaptionNode::window_start_seconds() const {
  return window_start_ / kRate;
}
double CaptionNode::window_end_seconds() const {
  return (window_start_ + static_cast<std::int64_t>(window_len_)) / kRate;
}
double CaptionNode::window_seconds() const {
  return window_len_ / kRate;
}

void CaptionNode::push(std::span<const float> audio) {
  if (!prepared_) throw std::logic_error("caption: push() before prepare()");
  float* window = audio_.as<float>().data();
  while (!audio.empty()) {
    const bool confirm_ahead = confirm_pending_ && since_step_ < confirm_samples_;
    std::size_t take =
        std::min(audio.size(), (confirm_ahead ? confirm_samples_ : step_samples_) - since_step_);
    if (window_len_ == kWindowSamples) {
      // Only reachable when passes cannot trim (no text at all): keep the newest audio.
      trim_to(window_end_seconds() - options_.max_buffer_seconds / 2.0);
      ++stats_.forced_trims;
    }
    take = std::min(take, kWindowSamples - window_len_);
    const auto chunk = audio.first(take);
    for (std::size_t i = 0; i < take; ++i) {
      // NaN/Inf would poison the log-mel's normalisation: read them as silence.
      const float x = chunk[i];
      window[window_len_ + i] = std::isfinite(x) ? x : 0.0f;
    }
    window_len_ += take;
    total_samples_ += static_cast<std::int64_t>(take);
    since_step_ += take;
    audio = audio.subspan(take);
    stats_.audio_seconds = total_samples_ / kRate;
    stats_.max_window_seconds = std::max(stats_.max_window_seconds, window_seconds());
    if (vad_) {
      const double t = now_seconds();
      const VadGate::Result r =
          vad_->push(std::span<const float>(window + window_len_ - take, take));
      stats_.vad_seconds += now_seconds() - t;
      if (r.utterance_ended) on_utterance_end(r);
    }
    if (since_step_ >= step_samples_) {
      since_step_ = 0;
      load_index_ = (load_index_ + 1) % kLoadSteps;
      step_busy_[load_index_] = 0.0;
      on_step();
    } else if (confirm_pending_ && since_step_ >= confirm_samples_ &&
               backlog_seconds_ + audio.size() / kRate <= kIdleBacklogSeconds) {
      on_confirm();
    }
  }
}

void CaptionNode::finish() {
  if (!prepared_) return;
  if (vad_) {
    const VadGate::Result r = vad_->finish();
    if (r.utterance_ended) on_utterance_end(r);
    return;
  }
  run_pass(true);
}

void CaptionNode::on_step() {
  confirm_pending_ = false;
  if (!vad_ || vad_->speaking()) {
    run_pass(false);
    confirm_pending_ = confirm_samples_ > 0 && !agreement_->partial().empty();
    return;
  }
  ++stats_.gated_steps;
  // No confirmed speech: Whisper does not run, and only a pre-roll is kept. The VAD confirms
  // speech at most min_speech after it began and dates its start back (with padding), so the
  // pre-roll must cover min_speech + padding: the utterance's start is then in the window.
  if (window_seconds() > options_.vad_preroll_seconds)
    trim_to(window_end_seconds() - options_.vad_preroll_seconds);
}

bool CaptionNode::confirm_affordable() const {
  double busy = last_pass_seconds_;
  for (double s : step_busy_) busy += s;
  return busy <= options_.confirm_max_load * kLoadSteps * (options_.step_ms / 1000.0);
}

void CaptionNode::on_confirm() {
  // One early pass per step: it confirms the step pass's partial with the audio heard since
  // (at least confirm_ms more). Whatever it leaves unconfirmed waits for the next step.
  confirm_pending_ = false;
  if (vad_ && !vad_->speaking()) return;
  if (!confirm_affordable()) {
    ++stats_.confirms_shed;
    return;
  }
  ++stats_.confirm_passes;
  run_pass(false);
}

void CaptionNode::on_utterance_end(const VadGate::Result& r) {
  confirm_pending_ = false;                 // the flush commits everything pending
  const double end = r.end_sample / kRate;  // padding included
  ++stats_.utterances;
  stats_.last_utterance_end = end;
  flushing_utterance_ = true;
  run_pass(true);
  flushing_utterance_ = false;
  // The utterance is over and committed: its audio and in-window state go.
  trim_to(std::min(end, window_end_seconds()));
  for (const HypToken& t : agreement_->committed_in_buffer()) {
    if (history_.size() == history_.capacity()) {
      if (history_.empty()) break;
      history_.erase(history_.begin());
    }
    history_.push_back(t.id);
  }
  agreement_->reset();
}

void CaptionNode::hypothesis_from(std::span<const int> tokens) {
  const ww::SpecialTokenIds& ids = model_.tokens;
  const double origin = window_start_seconds();
  const double duration = window_seconds();
  hypothesis_.clear();
  // Text tokens between two timestamps share the segment's span evenly.
  auto place = [&](std::size_t begin, double a, double b, bool closed) {
    a = std::clamp(a, 0.0, duration);
    b = std::clamp(b, a, duration);
    const std::size_t n = hypothesis_.size() - begin;
    for (std::size_t i = 0; i < n; ++i) {
      HypToken& t = hypothesis_[begin + i];
      t.start = origin + a + (b - a) * static_cast<double>(i) / static_cast<double>(n);
      t.end = origin + a + (b - a) * static_cast<double>(i + 1) / static_cast<double>(n);
    }
    if (n > 0 && closed) hypothesis_.back().ends_segment = true;
  };
  double segment_start = 0.0;
  std::size_t begin = 0;
  for (int id : tokens) {
    if (id >= ids.timestamp_begin) {
      const double time = (id - ids.timestamp_begin) * kTimePrecision;
      if (hypothesis_.size() > begin) place(begin, segment_start, time, true);
      begin = hypothesis_.size();
      segment_start = time;
    } else if (id < ids.eot && hypothesis_.size() < hypothesis_.capacity()) {
      hypothesis_.push_back({id, 0.0, 0.0, false});
    }
  }
  place(begin, segment_start, duration, false);  // text still open at the window's end

  ids_.clear();
  for (const HypToken& t : hypothesis_) ids_.push_back(t.id);
  const std::size_t keep =
      loop_free_length(ids_, options_.loop_max_ngram, options_.loop_max_repeats);
  if (keep < hypothesis_.size()) {
    ++stats_.loops_cut;
    hypothesis_.resize(keep);
  }
}

void CaptionNode::run_pass(bool flush_all) {
  pass_started_ = now_seconds();
  const ww::WhisperConfig& c = model_.config;
  bool heard = false;
  if (window_seconds() >= options_.min_pass_seconds) {
    const int n_ctx = audio_ctx_for(window_seconds());
    last_audio_ctx_ = n_ctx;
    const std::size_t n_prompt =
        std::min(history_.size(), static_cast<std::size_t>(options_.prompt_tokens));
    WindowRequest request;
    request.audio = audio_.as<float>();
    request.window_len = window_len_;
    request.start_seconds = window_start_seconds();
    request.n_ctx = n_ctx;
    // Speech runs at 2-4 tokens per second; a pass that would sample far more is hallucinating
    // (often a loop), and its tokens cost as much as real ones. Cap the pass by the window.
    const int limit = options_.max_tokens > 0 ? options_.max_tokens : c.n_text_ctx / 2;
    request.sample_len =
        std::min(limit, kMinTokensPerPass +
                            static_cast<int>(std::ceil(kMaxTokensPerSecond * window_seconds())));
    request.prompt = std::span<const int>(history_).last(n_prompt);
    PassTimes times;
    const ww::DecodingResult& result = transcriber_->transcribe(request, times);
    last_result_ = &result;
    stats_.mel_seconds += times.mel_seconds;
    stats_.encoder_seconds += times.encoder_seconds;
    stats_.decode_seconds += times.decode_seconds;
    stats_.audio_ctx_sum += static_cast<std::uint64_t>(n_ctx);
    ++stats_.passes;
    ++pass_index_;
    const bool silent = options_.no_speech_threshold &&
                        result.no_speech_prob > *options_.no_speech_threshold &&
                        result.avg_logprob < options_.logprob_threshold;
    if (silent) {
      ++stats_.silent_passes;
      hypothesis_.clear();
    } else {
      hypothesis_from(result.tokens);
      heard = true;
    }
  } else {
    hypothesis_.clear();
  }

  // With nothing heard, the previous partial stays the best guess; agreement with an empty
  // hypothesis would only throw it away.
  if (heard || flush_all) {
    const LocalAgreement::Update u = agreement_->update(hypothesis_);
    emit(CaptionEventKind::kCommit, u.committed);
  }
  if (flush_all) emit(CaptionEventKind::kCommit, agreement_->flush());

  // Trim at the end of committed segments once the window is long, and always before it fills.
  const double seg_end = agreement_->committed_segment_end();
  if (window_seconds() > options_.trim_seconds && seg_end > window_start_seconds()) {
    trim_to(seg_end);
    ++stats_.trims;
  }
  if (window_seconds() + 2.0 * options_.step_ms / 1000.0 > options_.max_buffer_seconds) {
    emit(CaptionEventKind::kCommit, agreement_->flush());
    double cut = agreement_->committed_end();
    if (!(cut > window_start_seconds() + options_.step_ms / 1000.0))
      cut = window_end_seconds() - options_.max_buffer_seconds / 2.0;
    trim_to(std::min(cut, window_end_seconds()));
    ++stats_.forced_trims;
  }
  emit(CaptionEventKind::kPartial, agreement_->partial());
  last_pass_seconds_ = now_seconds() - pass_started_;
  step_busy_[load_index_] += last_pass_seconds_;
  stats_.compute_seconds += last_pass_seconds_;
}

void CaptionNode::trim_to(double seconds) {
  const double offset = (seconds - window_start_seconds()) * kRate;
  const std::size_t drop =
      offset <= 0.0 ? 0 : std::min(window_len_, static_cast<std::size_t>(std::llround(offset)));
  if (drop == 0) return;
  float* window = audio_.as<float>().data();
  std::memmove(window, window + drop, sizeof(float) * (window_len_ - drop));
  std::fill_n(window + (window_len_ - drop), drop, 0.0f);
  window_len_ -= drop;
  window_start_ += static_cast<std::int64_t>(drop);
  // Committed text whose audio left the window becomes the prompt history.
  for (const HypToken& t : agreement_->trim(window_start_seconds())) {
    if (history_.capacity() == 0) break;
    if (history_.size() == history_.capacity()) history_.erase(history_.begin());
    history_.push_back(t.id);
  }
}

void CaptionNode::emit(CaptionEventKind kind, std::span<const HypToken> tokens) {
  if (kind == CaptionEventKind::kCommit && tokens.empty()) return;
  const double elapsed = now_seconds() - pass_started_;
  do {
    const std::size_t n = std::min(tokens.size(), static_cast<std::size_t>(kMaxEventTokens));
    CaptionEvent e;
    e.kind = kind;
    e.step = pass_index_;
    e.n_tokens = static_cast<int>(n);
    for (std::size_t i = 0; i < n; ++i) e.tokens[i] = tokens[i].id;
    e.start = n > 0 ? tokens.front().start : window_end_seconds();
    e.end = n > 0 ? tokens[n - 1].end : window_end_seconds();
    e.latency = std::max(0.0, window_end_seconds() - e.end) + elapsed + backlog_seconds_;
    e.utterance_end = flushing_utterance_;
    for (std::size_t i = 0; i < n; ++i)
      e.ends_before[i] = static_cast<float>(std::max(0.0, e.end - tokens[i].end));
    if (kind == CaptionEventKind::kCommit) stats_.committed_tokens += n;
    if (!events_->try_enqueue(e)) ++stats_.dropped_events;
    tokens = tokens.subspan(n);
  } while (!tokens.empty());
}

}  // namespace earshot::nodes::caption
