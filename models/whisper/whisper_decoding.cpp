#include "models/whisper/whisper_decoding.hpp"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace earshot::models::whisper {
namespace {
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

int argmax(std::span<const float> v) {
  // First maximum, as torch.argmax.
  return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin());
}

std::string strip(const std::string& s) {
  const char* ws = " \t\n\r\f\v";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}
}  // namespace

double compression_ratio(const std::string& text) {
  if (text.empty()) return 0.0;
  uLongf size = compressBound(static_cast<uLong>(text.size()));
  std::vector<Bytef> out(size);
  if (compress2(out.data(), &size, reinterpret_cast<const Bytef*>(text.data()),
                static_cast<uLong>(text.size()), Z_DEFAULT_COMPRESSION) != Z_OK)
    throw std::runtime_error("zlib compression failed");
  return static_cast<double>(text.size()) / static_cast<double>(size);
}

WhisperDecoding::WhisperDecoding(const WhisperModel& model, rt::MemoryBudget& budget, int max_group,
                                 Parallel* parallel, CrossKvPrecision cross_kv)
    : model_(model),
      max_group_(max_group),
      decoder_(model, budget, max_group, parallel, cross_kv),
      logits_(budget.reserve_array<float>(
          "whisper decoding logits",
          static_cast<std::size_t>(max_group) * static_cast<std::size_t>(model.config.n_vocab))),
      logprobs_(budget.reserve_array<float>(
          "whisper decoding logits",
          static_cast<std::size_t>(max_group) * static_cast<std::size_t>(model.config.n_vocab))),
      beams_(std::max(max_group, 1), static_cast<std::size_t>(model.config.n_text_ctx) + 2) {
  tokens_.resize(static_cast<std::size_t>(max_group));
  for (auto& t : tokens_) t.reserve(static_cast<std::size_t>(model.config.n_text_ctx) + 2);
  initial_.reserve(static_cast<std::size_t>(model.config.n_text_ctx) + 2);
  filters_.blank_tokens.reserve(2);
  filters_.suppress_tokens.reserve(model.config.suppress_tokens.size() + 8);
  rows_seq_.resize(static_cast<std::size_t>(max_group));
  rows_token_.resize(static_cast<std::size_t>(max_group));
  sum_logprobs_.resize(static_cast<std::size_t>(max_group));
  source_.resize(static_cast<std::size_t>(max_group));
  text_tokens_.reserve(static_cast<std::size_t>(model.config.n_text_ctx) + 2);
}

void WhisperDecoding::set_audio(const float* audio_features, int n_audio_ctx) {
  decoder_.set_audio(audio_features, n_audio_ctx);
}

std::vector<std::pair<std::string, float>> WhisperDecoding::detect_language() {
  const SpecialTokenIds& ids = model_.tokens;
  if (!ids.multilingual || ids.num_languages == 0)
    throw std::logic_error("language detection needs a multilingual model");
  decoder_.reset();
  const int sot = ids.sot;
  const float* hidden = decoder_.forward(0, &sot, 1);
  std::span<float> logits = logits_.as<float>().first(static_cast<std::size_t>(ids.n_vocab));
  decoder_.logits(hidden, 1, logits.data());
  decoder_.reset();
  // Softmax over the language tokens only (everything else is -inf in the reference).
  const auto langs = logits.subspan(static_cast<std::size_t>(ids.first_language),
                                    static_cast<std::size_t>(ids.num_languages));
  const float m = *std::max_element(langs.begin(), langs.end());
  double sum = 0.0;
  for (float v : langs) sum += std::exp(static_cast<double>(v - m));
  std::vector<std::pair<std::string, float>> probs;
  for (int i = 0; i < ids.num_languages; ++i)
    probs.emplace_back(
        ids.language_code(ids.first_language + i),
        static_cast<float>(std::exp(static_cast<double>(langs[static_cast<std::size_t>(i)] - m)) /
                           sum));
  return probs;
}

void WhisperDecoding::initial_tokens(const DecodingOptions& o, const std::string& language,
                                     int sample_len, int& sot_index) {
  const SpecialTokenIds& ids = model_.tokens;
  const int n_ctx = model_.config.n_text_ctx;
  std::vector<int>& tokens = initial_;  // capacity reserved: no allocation here
  tokens.clear();
  if (!o.prompt.empty()) {
    tokens.push_back(ids.sot_prev);
    const std::size_t keep = std::min(o.prompt.size(), static_cast<std::size_t>(n_ctx / 2 - 1));
    tokens.insert(tokens.end(), o.prompt.end() - static_cast<std::ptrdiff_t>(keep), o.prompt.end());
  }
  sot_index = static_cast<int>(tokens.size());
  tokens.push_back(ids.sot);
  if (ids.multilingual) {
    tokens.push_back(ids.language_token(language));
    tokens.push_back(o.translate ? ids.translate : ids.transcribe);
  }
  if (o.without_timestamps) tokens.push_back(ids.no_timestamps);
  if (!o.prefix.empty()) {
    const int max_prefix = n_ctx / 2 - sample_len;
    std::size_t keep = o.prefix.size();
    if (max_prefix > 0) keep = std::min(keep, static_cast<std::size_t>(max_prefix));
    tokens.insert(tokens.end(), o.prefix.end() - static_cast<std::ptrdiff_t>(keep), o.prefix.end());
  }
  for (int t : tokens)
    if (t < 0 || t >= ids.n_vocab)
      throw std::out_of_range("whisper decode: prompt token id " + std::to_string(t) +
                              " out of range");
}

void WhisperDecoding::configure_filters(const DecodingOptions& o, int sample_begin) {
  const SpecialTokenIds& ids = model_.tokens;
  LogitFilters& f = filters_;  // vectors keep their capacity between decodes
  f.ids = ids;
  f.sample_begin = sample_begin;
  f.suppress_blank = o.suppress_blank;
  f.blank_tokens.assign({220, ids.eot});
  const auto& base = o.suppress_tokens.empty() ? model_.config.suppress_tokens : o.suppress_tokens;
  f.suppress_tokens.clear();
  for (int t : base)
    if (t >= 0 && t < ids.n_vocab) f.suppress_tokens.push_back(t);
  for (int t : {ids.transcribe, ids.translate, ids.sot, ids.sot_prev, ids.sot_lm, ids.no_speech})
    f.suppress_tokens.push_back(t);
  std::sort(f.suppress_tokens.begin(), f.suppress_tokens.end());
  f.suppress_tokens.erase(std::unique(f.suppress_tokens.begin(), f.suppress_tokens.end()),
                          f.suppress_tokens.end());
  f.timestamps = !o.without_timestamps;
  f.max_initial_timestamp_index = -1;
  if (o.max_initial_timestamp >= 0.0f) {
    const double precision = 30.0 / model_.config.n_audio_ctx;  // 0.02 s per timestamp
    f.max_initial_timestamp_index =
        static_cast<int>(std::nearbyint(static_cast<double>(o.max_initial_timestamp) / precision));
  }
}

int WhisperDecoding::sample(std::span<const float> logits, float temperature) {
  // Categorical(logits / temperature).
  float m = kNegInf;
  for (float v : logits) m = std::max(m, v);
  double total = 0.0;
  for (float v : logits) total += std::exp(static_cast<double>((v - m) / temperature));
  std::uniform_real_distribution<double> u(0.0, total);
  double r = u(rng_);
  int last_finite = 0;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    if (logits[i] == kNegInf) continue;
    last_finite = static_cast<int>(i);
    r -= std::exp(static_cast<double>((logits[i] - m) / temperature));
    if (r <= 0.0) return static_cast<int>(i);
  }
  return last_finite;
}

void WhisperDecoding::finish_text(DecodingResult& r) {
  if (!text_decoder_) return;
  std::vector<int>& text_tokens = text_tokens_;  // reserved: no allocation
  text_tokens.clear();
  for (int t : r.tokens)
    if (t < model_.tokens.timestamp_begin) text_tokens.push_back(t);
  r.text = strip(text_decoder_(text_tokens));
  r.compression_ratio = compression_ratio(r.text);
}

DecodingResult WhisperDecoding::decode(const DecodingOptions& o) {
  DecodingResult result;
  decode_into(o, result);
  return result;
}

void WhisperDecoding::decode_into(const DecodingOptions& o, DecodingResult& result) {
  const SpecialTokenIds& ids = model_.tokens;
  const int V = ids.n_vocab;
  const int n_ctx = model_.config.n_text_ctx;
  const bool beam = o.beam_size > 1 && o.temperature == 0.0f;
  const int n_group = beam ? o.beam_size : (o.temperature > 0.0f ? std::max(1, o.best_of) : 1);
  if (n_group > max_group_)
    throw std::invalid_argument("whisper decode: " + std::to_string(n_group) +
                                " sequences requested, prepared for " + std::to_string(max_group_));
  const int sample_len = o.sample_len > 0 ? o.sample_len : n_ctx / 2;

  result.temperature = o.temperature;
  result.text.clear();
  result.compression_ratio = 0.0;
  result.language = o.language;
  if (result.language.empty()) {
    if (ids.multilingual) {
      const auto probs = detect_language();
      result.language = std::max_element(probs.begin(), probs.end(), [](auto& a, auto& b) {
                          return a.second < b.second;
                        })->first;
    } else {
      result.language = "en";
    }
  }
  int sot_index = 0;
  initial_tokens(o, result.language, sample_len, sot_index);
  const std::vector<int>& initial = initial_;
  const int sample_begin = static_cast<int>(initial.size());
  if (sample_begin >= n_ctx) throw std::length_error("whisper decode: prompt fills the context");
  configure_filters(o, sample_begin);
  const LogitFilters& filters = filters_;
  if (o.seed != 0) rng_.seed(o.seed);

  float* logits = logits_.as<float>().data();
  float* logprobs = logprobs_.as<float>().data();
  auto row = [V](float* base, int k) {
    return std::span<float>(base + static_cast<std::size_t>(k) * V, static_cast<std::size_t>(V));
  };

  // Step 0: the initial tokens once, then every group member forks from that cache.
  decoder_.reset();
  const float* hidden = decoder_.forward(0, initial.data(), sample_begin);
  const int d = model_.config.d_model;
  decoder_.logits(hidden + static_cast<std::size_t>(sot_index) * d, 1, logits);
  {
    const auto sot_row = row(logits, 0);
    log_softmax(sot_row, row(logprobs, 0));
    result.no_speech_prob = std::exp(logprobs[ids.no_speech]);
  }
  decoder_.logits(hidden + static_cast<std::size_t>(sample_begin - 1) * d, 1, logits);
  for (int k = 1; k < n_group; ++k)
    std::copy_n(logits, V, logits + static_cast<std::size_t>(k) * V);
  if (n_group > 1) {
    std::fill_n(source_.begin(), n_group, 0);
    decoder_.rearrange(source_.data(), n_group);
  }
  for (int k = 0; k < n_group; ++k) {
    tokens_[static_cast<std::size_t>(k)].assign(initial.begin(), initial.end());
    sum_logprobs_[static_cast<std::size_t>(k)] = 0.0f;
  }
  if (beam) beams_.start(o.beam_size, o.patience, ids.eot);
  const auto group_tokens =
      std::span<std::vector<int>>(tokens_).first(static_cast<std::size_t>(n_group));
  const auto group_sums = std::span<float>(sum_logprobs_).first(static_cast<std::size_t>(n_group));

  for (int i = 0; i < sample_len; ++i) {
    if (i > 0) {
      // One new token per unfinished sequence, batched through the decoder.
      int rows = 0;
      for (int k = 0; k < n_group; ++k) {
        const auto& t = tokens_[static_cast<std::size_t>(k)];
        if (!beam && t.back() == ids.eot) continue;
        rows_seq_[static_cast<std::size_t>(rows)] = k;
        rows_token_[static_cast<std::size_t>(rows)] = t.back();
        ++rows;
      }
      hidden = decoder_.forward(rows_seq_.data(), rows_token_.data(), rows);
      for (int r = 0; r < rows; ++r)
        decoder_.logits(hidden + static_cast<std::size_t>(r) * d, 1,
                        row(logits, rows_seq_[static_cast<std::size_t>(r)]).data());
    }
    for (int k = 0; k < n_group; ++k) {
      const auto& t = tokens_[static_cast<std::size_t>(k)];
      if (!beam && t.back() == ids.eot) continue;
      filters.apply(t, row(logits, k), row(logprobs, k));
    }

    bool completed = true;
    if (beam) {
      for (int k = 0; k < n_group; ++k) log_softmax(row(logits, k), row(logprobs, k));
      completed = beams_.update(
          group_tokens, std::span<const float>(logprobs, static_cast<std::size_t>(n_group) * V), V,
          group_sums, source_);
      if (beams_.selected() < n_group) break;  // cannot continue: all candidates ended
      decoder_.rearrange(source_.data(), n_group);
    } else {
      for (int k = 0; k < n_group; ++k) {
        auto& t = tokens_[static_cast<std::size_t>(k)];
        if (t.back() == ids.eot) {
          t.push_back(ids.eot);
          continue;
        }
        const auto lg = row(logits, k);
        const int next = o.temperature == 0.0f ? argmax(lg) : sample(lg, o.temperature);
        log_softmax(lg, row(logprobs, k));
        sum_logprobs_[static_cast<std::size_t>(k)] +=
            logprobs[static_cast<std::size_t>(k) * V + next];
        t.push_back(next);
        completed = completed && next == ids.eot;
      }
    }
    if (completed || static_cast<int>(tokens_[0].size()) > n_ctx) break;
  }

  // Candidates: tokens between the initial tokens and the first EOT, ranked as the reference's
  // MaximumLikelihoodRanker without length penalty (sum_logprob / length).
  auto sampled = [&](const std::vector<int>& t) {
    const auto begin = t.begin() + sample_begin;
    return std::span<const int>(
        &*begin, static_cast<std::size_t>(std::find(begin, t.end(), ids.eot) - begin));
  };
  auto score = [](float sum, std::size_t len) {
    return len > 0 ? static_cast<double>(sum) / static_cast<double>(len)
                   : -std::numeric_limits<double>::infinity();
  };
  std::span<const int> best_tokens;
  float best_sum = 0.0f;
  double best_score = 0.0;
  auto consider = [&](std::span<const int> tokens, float sum, bool first) {
    const double sc = score(sum, tokens.size());
    if (first || sc > best_score) {
      best_tokens = tokens;
      best_sum = sum;
      best_score = sc;
    }
  };
  if (beam) {
    beams_.finalize(group_tokens, group_sums);
    const auto finished = beams_.finished();
    for (std::size_t i = 0; i < finished.size(); ++i)
      consider(sampled(finished[i].tokens), finished[i].sum_logprob, i == 0);
  } else {
    for (int k = 0; k < n_group; ++k)
      consider(sampled(tokens_[static_cast<std::size_t>(k)]),
               sum_logprobs_[static_cast<std::size_t>(k)], k == 0);
  }
  result.tokens.assign(best_tokens.begin(), best_tokens.end());
  result.sum_logprob = best_sum;
  result.avg_logprob = best_sum / static_cast<float>(result.tokens.size() + 1);
  finish_text(result);
}

}  // namespace earshot::models::whisper
