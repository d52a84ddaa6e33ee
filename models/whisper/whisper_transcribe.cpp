#include "models/whisper/whisper_transcribe.hpp"

#include "dsp/log_mel.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

namespace earshot::models::whisper {
namespace {
constexpr int kFramesPerWindow = 3000;
constexpr double kHopSeconds = 160.0 / 16000.0;

bool blank(const std::string& s) {
  return s.find_first_not_of(" \t\n\r\f\v") == std::string::npos;
}
}  // namespace

std::vector<float> whisper_log_mel_padded(std::span<const float> audio, int n_mels) {
  for (float s : audio)
    if (!std::isfinite(s))
      throw std::invalid_argument("whisper: audio contains NaN or infinite samples");
  std::vector<float> padded(audio.size() + dsp::WhisperAudio::kChunkSamples, 0.0f);
  std::copy(audio.begin(), audio.end(), padded.begin());
  dsp::WhisperLogMel mel(static_cast<std::size_t>(n_mels), padded.size());
  const std::size_t frames = dsp::WhisperLogMel::frames_for(padded.size());
  std::vector<float> out(static_cast<std::size_t>(n_mels) * frames);
  mel.log_mel_frames(padded, out);
  dsp::WhisperLogMel::normalize(out);
  for (float v : out)
    if (!std::isfinite(v))
      throw std::invalid_argument(
          "whisper: sample values so far beyond full scale that the spectrum overflows");
  return out;
}

WhisperTranscriber::WhisperTranscriber(const WhisperModel& model, rt::MemoryBudget& budget,
                                       int max_group, Parallel* parallel)
    : model_(model),
      encoder_(model, budget, parallel),
      decoding_(model, budget, max_group, parallel),
      window_(budget.reserve_array<float>(
          "whisper mel window",
          static_cast<std::size_t>(model.config.n_mels) * model.config.n_mel_frames())),
      features_(budget.reserve_array<float>(
          "whisper audio features",
          static_cast<std::size_t>(model.config.n_audio_ctx) * model.config.d_model)) {
  // Encoder and decoder take turns on the same threads: the decoder's large products
  // (set_audio's K/V projections, prompts) pack into the encoder's GEMM workspaces.
  decoding_.set_gemm_workspaces(encoder_.gemm_workspaces());
}

std::vector<rt::PlanItem> WhisperTranscriber::plan(const WhisperConfig& c, int max_group,
                                                   int workers) {
  const std::size_t f = sizeof(float);
  return {
      {"whisper encoder workspace", WhisperEncoder::workspace_bytes(c, workers)},
      {"whisper decoder (KV cache, activations)",
       WhisperDecoder::workspace_bytes(c, max_group, workers)},
      {"whisper decoding logits", 2 * static_cast<std::size_t>(max_group) * c.n_vocab * f},
      {"whisper mel window", static_cast<std::size_t>(c.n_mels) * c.n_mel_frames() * f},
      {"whisper audio features", static_cast<std::size_t>(c.n_audio_ctx) * c.d_model * f},
  };
}

void WhisperTranscriber::set_text_decoder(TextDecoder decoder) {
  text_decoder_ = decoder;
  decoding_.set_text_decoder(std::move(decoder));
}

void WhisperTranscriber::encode(const float* mel_window) {
  encoder_.forward(mel_window, model_.config.n_mels, model_.config.n_mel_frames(),
                   features_.as<float>().data());
  decoding_.set_audio(features_.as<float>().data());
}

DecodingResult WhisperTranscriber::decode_window(const float* mel_window,
                                                 const DecodingOptions& options) {
  encode(mel_window);
  return decoding_.decode(options);
}

std::vector<std::pair<std::string, float>> WhisperTranscriber::detect_language(
    const float* mel_window) {
  encode(mel_window);
  return decoding_.detect_language();
}

void WhisperTranscriber::decode_with_fallback(const TranscribeOptions& o, DecodingOptions& decode,
                                              DecodingResult& result) {
  static constexpr float kGreedyOnly = 0.0f;
  const std::span<const float> temps = o.temperatures.empty()
                                           ? std::span<const float>(&kGreedyOnly, 1)
                                           : std::span<const float>(o.temperatures);
  // The options are changed in place and restored: copying them would copy the prompt.
  const float temperature = decode.temperature;
  const int beam_size = decode.beam_size;
  const int best_of = decode.best_of;
  for (float t : temps) {
    decode.temperature = t;
    decode.beam_size = t > 0.0f ? 0 : beam_size;  // beam search only at temperature 0
    decode.best_of = t > 0.0f ? best_of : 1;      // best_of only when sampling
    try {
      decoding_.decode_into(decode, result);
    } catch (...) {
      decode.temperature = temperature;
      decode.beam_size = beam_size;
      decode.best_of = best_of;
      throw;
    }
    bool needs_fallback = false;
    if (o.compression_ratio_threshold && result.compression_ratio > *o.compression_ratio_threshold)
      needs_fallback = true;  // too repetitive
    if (o.logprob_threshold && result.avg_logprob < *o.logprob_threshold)
      needs_fallback = true;  // too unlikely
    if (o.no_speech_threshold && result.no_speech_prob > *o.no_speech_threshold &&
        o.logprob_threshold && result.avg_logprob < *o.logprob_threshold)
      needs_fallback = false;  // silence: nothing better to find
    if (!needs_fallback) break;
  }
  decode.temperature = temperature;
  decode.beam_size = beam_size;
  decode.best_of = best_of;
}

void WhisperTranscriber::decode_window_with_fallback(const float* mel_window,
                                                     const TranscribeOptions& options,
                                                     DecodingOptions& decode,
                                                     DecodingResult& result) {
  encode(mel_window);
  decode_with_fallback(options, decode, result);
}

MelSpanSource::MelSpanSource(std::span<const float> mel, int n_mels, int n_frames)
    : mel_(mel), n_mels_(n_mels), n_frames_(n_frames) {
  if (n_frames < kFramesPerWindow ||
      mel.size() != static_cast<std::size_t>(n_mels) * static_cast<std::size_t>(n_frames))
    throw std::invalid_argument("whisper transcribe: mel must be [" + std::to_string(n_mels) +
                                ", frames >= 3000] (audio + 30 s padding)");
}

void MelSpanSource::read(int seek, int size, float* window) {
  if (seek < 0 || size < 0 || size > kFramesPerWindow || seek + size > n_frames_)
    throw std::out_of_range("whisper transcribe: mel window out of range");
  for (int m = 0; m < n_mels_; ++m)
    std::memcpy(window + static_cast<std::size_t>(m) * kFramesPerWindow,
                mel_.data() + static_cast<std::size_t>(m) * n_frames_ + seek,
                sizeof(float) * static_cast<std::size_t>(size));
}

Transcript WhisperTranscriber::transcribe(std::span<const float> mel, int n_frames,
                                          const TranscribeOptions& o) {
  MelSpanSource source(mel, model_.config.n_mels, n_frames);
  Transcript transcript;
  transcript.language = transcribe(source, o, [&transcript](TranscriptSegment&& s) {
    transcript.segments.push_back(std::move(s));
  });
  return transcript;
}

std::string WhisperTranscriber::transcribe(MelWindowSource& source, const TranscribeOptions& o,
                                           const SegmentSink& on_segment,
                                           const ProgressSink& on_progress) {
  const WhisperConfig& c = model_.config;
  const SpecialTokenIds& ids = model_.tokens;
  if (source.n_mels() != c.n_mels)
    throw std::invalid_argument("whisper transcribe: this model takes " + std::to_string(c.n_mels) +
                                "-bin log-mel features, got " + std::to_string(source.n_mels()) +
                                " bins");
  const int content_frames = source.content_frames();
  float* window = window_.as<float>().data();
  // pad_or_trim: a slice of the mel, zero-padded (in the log-mel domain) to 3000 frames.
  auto load_window = [&](int seek, int size) {
    std::fill_n(window, static_cast<std::size_t>(c.n_mels) * kFramesPerWindow, 0.0f);
    source.read(seek, size, window);
  };

  DecodingOptions decode = o.decode;
  if (decode.language.empty()) {
    if (!ids.multilingual) {
      decode.language = "en";
    } else {
      load_window(0, kFramesPerWindow);  // the first 30 s of the padded mel
      const auto probs = detect_language(window);
      decode.language = std::max_element(probs.begin(), probs.end(), [](auto& a, auto& b) {
                          return a.second < b.second;
                        })->first;
    }
  }

  const int input_stride = c.n_mel_frames() / c.n_audio_ctx;  // 2 mel frames per token
  const double time_precision = input_stride * kHopSeconds;   // 0.02 s
  // The previous text: only its last n_text_ctx / 2 - 1 tokens can reach a prompt, so only
  // those are kept (the reference keeps all; the decode is the same).
  const std::size_t prompt_keep = static_cast<std::size_t>(std::max(c.n_text_ctx / 2 - 1, 0));
  std::vector<int> previous(o.initial_prompt);
  decode.prompt.reserve(static_cast<std::size_t>(c.n_text_ctx));
  DecodingResult result;
  std::vector<int> text_tokens;
  int seek = 0;
  if (on_progress) on_progress(0, content_frames);
  while (seek < content_frames) {
    const double time_offset = seek * kHopSeconds;
    const int segment_size = std::min(kFramesPerWindow, content_frames - seek);
    const double segment_duration = segment_size * kHopSeconds;
    load_window(seek, segment_size);
    const std::size_t keep = std::min(previous.size(), prompt_keep);
    decode.prompt.assign(previous.end() - static_cast<std::ptrdiff_t>(keep), previous.end());
    decode_window_with_fallback(window, o, decode, result);
    const std::vector<int>& tokens = result.tokens;

    bool skip = false;
    if (o.no_speech_threshold) {
      skip = result.no_speech_prob > *o.no_speech_threshold;
      if (o.logprob_threshold && result.avg_logprob > *o.logprob_threshold) skip = false;
    }
    if (skip) {
      seek += segment_size;  // silence: go to the next window
      if (on_progress) on_progress(std::min(seek, content_frames), content_frames);
      continue;
    }

    std::vector<TranscriptSegment> current;
    auto add_segment = [&](double start, double end, std::vector<int> seg_tokens) {
      TranscriptSegment s;
      s.seek = seek;
      s.start = start;
      s.end = end;
      text_tokens.clear();
      for (int t : seg_tokens)
        if (t < ids.eot) text_tokens.push_back(t);
      if (text_decoder_) s.text = text_decoder_(text_tokens);
      s.tokens = std::move(seg_tokens);
      s.temperature = result.temperature;
      s.avg_logprob = result.avg_logprob;
      s.compression_ratio = result.compression_ratio;
      s.no_speech_prob = result.no_speech_prob;
      current.push_back(std::move(s));
    };

    const std::size_t n = tokens.size();
    auto is_ts = [&](std::size_t i) { return tokens[i] >= ids.timestamp_begin; };
    const bool single_timestamp_ending = n >= 2 && !is_ts(n - 2) && is_ts(n - 1);
    std::vector<std::size_t> slices;  // starts of the segments after consecutive timestamps
    for (std::size_t i = 1; i < n; ++i)
      if (is_ts(i - 1) && is_ts(i)) slices.push_back(i);
    if (!slices.empty()) {
      if (single_timestamp_ending) slices.push_back(n);
      std::size_t last_slice = 0;
      for (std::size_t cur : slices) {
        std::vector<int> seg(tokens.begin() + static_cast<std::ptrdiff_t>(last_slice),
                             tokens.begin() + static_cast<std::ptrdiff_t>(cur));
        const int start_pos = seg.front() - ids.timestamp_begin;
        const int end_pos = seg.back() - ids.timestamp_begin;
        add_segment(time_offset + start_pos * time_precision,
                    time_offset + end_pos * time_precision, std::move(seg));
        last_slice = cur;
      }
      if (single_timestamp_ending) {
        seek += segment_size;  // no speech after the last timestamp
      } else {
        const int last_timestamp_pos = tokens[last_slice - 1] - ids.timestamp_begin;
        // Resume at the last complete timestamp. The reference would decode the same window
        // forever if that is <|0.00|>; move on by a whole window instead.
        seek += last_timestamp_pos > 0 ? last_timestamp_pos * input_stride : segment_size;
      }
    } else {
      double duration = segment_duration;
      int last_ts = -1;
      for (int t : tokens)
        if (t >= ids.timestamp_begin) last_ts = t;
      if (last_ts >= 0 && last_ts != ids.timestamp_begin)
        duration = (last_ts - ids.timestamp_begin) * time_precision;
      add_segment(time_offset, time_offset + duration, tokens);
      seek += segment_size;
    }

    // Instantaneous or (when text is known) empty segments carry nothing.
    for (auto& s : current)
      if (s.start == s.end || (text_decoder_ && blank(s.text))) {
        s.text.clear();
        s.tokens.clear();
      }
    const bool reset_prompt = !o.condition_on_previous_text || result.temperature > 0.5f;
    for (auto& s : current) {
      if (!reset_prompt) {
        previous.insert(previous.end(), s.tokens.begin(), s.tokens.end());
        if (previous.size() > 2 * prompt_keep)  // bounded: drop what no prompt can reach
          previous.erase(previous.begin(),
                         previous.end() - static_cast<std::ptrdiff_t>(prompt_keep));
      }
      on_segment(std::move(s));
    }
    if (reset_prompt) previous.clear();
    if (on_progress) on_progress(std::min(seek, content_frames), content_frames);
  }
  return decode.language;
}

}  // namespace earshot::models::whisper
