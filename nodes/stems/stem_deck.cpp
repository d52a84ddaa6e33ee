#include "nodes/stems/stem_deck.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <stdexcept>

namespace earshot::stems {
namespace {

constexpr int kMaxSources = 8;
constexpr std::int64_t kInvalid = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kReadBlock = 4096;  // frames per disk read

}  // namespace

StemDeck::StemDeck(htdemucs::ModelBag& bag, const std::string& path, const DeckOptions& options,
                   rt::MemoryBudget& budget)
    : bag_(bag), budget_(budget), created_(std::chrono::steady_clock::now()) {
  if (bag.audio_channels() != 2)
    throw std::invalid_argument("the deck needs a stereo model (audio_channels = 2)");
  if (options.overlap < 0.0 || options.overlap >= 1.0)
    throw std::invalid_argument("--overlap must be in [0, 1)");
  if (!(options.lookahead_seconds > 0.0) || options.lookahead_seconds > 3600.0)
    throw std::invalid_argument("--lookahead must be in (0, 3600] seconds");
  sources_ = bag.config().sources;
  S_ = bag.num_sources();
  channels_ = 2 * S_;
  if (S_ > kMaxSources) throw std::invalid_argument("the deck mixes at most 8 sources");
  model_rate_ = bag.samplerate();
  // The file first: a bad file is reported before any JACK business.
  sep_reader_ = std::make_unique<SongReader>(path, model_rate_);
  std::vector<std::string> outputs{"master_L", "master_R"};
  for (const auto& source : sources_) {
    outputs.push_back(source + "_L");
    outputs.push_back(source + "_R");
  }
  rt::StreamConfig config;
  config.client_name = options.client_name;
  config.input_channels = 0;
  config.output_channels = static_cast<std::uint32_t>(outputs.size());
  config.output_port_names = outputs;
  client_ = std::make_unique<rt::JackBackend>();
  client_->open(config);
  rate_ = static_cast<int>(client_->sample_rate());
  period_ = client_->period_frames();
  const int g = std::gcd(rate_, model_rate_);
  step_jack_ = rate_ / g;
  step_model_ = model_rate_ / g;
  mix_reader_ = std::make_unique<SongReader>(path, rate_);
  frames_ = mix_reader_->frames();
  model_frames_ = sep_reader_->frames();
  if (frames_ <= 0 || model_frames_ <= 0) throw std::invalid_argument(path + ": no audio frames");

  sep_options_.segment = options.segment;
  sep_options_.overlap = options.overlap;
  // Region 0: from the start of the song (also fixes segment and stride).
  seek_target_.store(0);
  if (resampling())
    stem_resampler_ = std::make_unique<dsp::Resampler>(model_rate_, rate_, channels_);
  begin_region(0);
  worker_gen_ = 0;
  segment_ = sep_->segment();
  stride_ = sep_->stride();
  back_ = (segment_ - stride_ + stride_ - 1) / stride_;
  capacity_ = static_cast<std::int64_t>(options.lookahead_seconds * rate_);
  // At least two segments (at the JACK rate), so a region's first stems fit ahead.
  capacity_ = std::max(capacity_, (segment_ + stride_) * rate_ / model_rate_ + 2 * period_);
  crossfade_ = std::max<std::int64_t>(1, options.crossfade);
  // Everything below is sized by the look-ahead and the segment, never by the song.
  ring_ = budget.reserve_array<float>("deck look-ahead stems",
                                      static_cast<std::size_t>(capacity_) * channels_);
  mix_ =
      budget.reserve_array<float>("deck look-ahead mix", static_cast<std::size_t>(capacity_) * 2);
  stage_ = budget.reserve_array<float>("deck stem staging",
                                       static_cast<std::size_t>(stride_) * channels_);
  pending_capacity_ = stem_resampler_
                          ? static_cast<std::int64_t>(stem_resampler_->output_capacity(stride_))
                          : stride_;
  pending_ = budget.reserve_array<float>("deck stems to write",
                                         static_cast<std::size_t>(pending_capacity_) * channels_);
  sep_in_ = budget.reserve_array<float>("deck separator input", kReadBlock * 2);
  mix_in_ = budget.reserve_array<float>("deck mix input", kReadBlock * 2);
  pending_start_ = pending_count_ = pending_done_ = 0;
  gain_db_.assign(S_, 0.0f);
  gain_now_.assign(S_, 1.0f);
  muted_.assign(S_, 0);
  soloed_.assign(S_, 0);
  reader_ = std::make_unique<rt::WorkerThread>("earshot-deckmix", [this] { read_mix(); });
  worker_ = std::make_unique<rt::WorkerThread>("earshot-deck", [this] { work(); });
  reader_->wake();
  worker_->wake();
}

StemDeck::~StemDeck() {
  stop();
}

void StemDeck::start() {
  if (active_) return;
  client_->set_transport_sync(*this);  // a start or locate waits until the mix there is read
  client_->start(*this);
  active_ = true;
}

void StemDeck::stop() {
  if (active_) {
    client_->stop();
    active_ = false;
  }
  stopping_.store(true, std::memory_order_release);
  if (worker_) worker_->stop();
  if (reader_) reader_->stop();
}

void StemDeck::send(const std::string& line) {
  if (!send(parse_deck_command(line, sources_)))
    throw std::runtime_error("the deck's command queue is full; try again");
}

// ---------------------------------------------------------------- audio thread

void StemDeck::apply(const DeckCommand& cmd) noexcept {
  for (int s = 0; s < S_; ++s) {
    if (cmd.source >= 0 && cmd.source != s && cmd.op != DeckCommand::Op::Reset) continue;
    switch (cmd.op) {
      case DeckCommand::Op::Gain:
        gain_db_[s] = cmd.gain_db;
        break;
      case DeckCommand::Op::Mute:
        muted_[s] = 1;
        break;
      case DeckCommand::Op::Unmute:
        muted_[s] = 0;
        break;
      case DeckCommand::Op::Solo:
        soloed_[s] = 1;
        break;
      case DeckCommand::Op::Unsolo:
        soloed_[s] = 0;
        break;
      case DeckCommand::Op::Reset:
        gain_db_[s] = 0.0f;
        muted_[s] = soloed_[s] = 0;
        break;
    }
  }
  applied_.fetch_add(1, std::memory_order_relaxed);
}

bool StemDeck::stems_ready(std::int64_t first, std::int64_t frames) const noexcept {
  const std::uint64_t g1 = region_gen_.load(std::memory_order_acquire);
  const std::int64_t begin = region_begin_.load(std::memory_order_acquire);
  const std::int64_t end = ready_end_.load(std::memory_order_acquire);
  const std::uint64_t g2 = region_gen_.load(std::memory_order_acquire);
  return g1 == my_gen_ && g2 == my_gen_ && begin <= first && first + frames <= end;
}

bool StemDeck::mix_ready(std::int64_t first, std::int64_t frames) const noexcept {
  const std::uint64_t g1 = mix_gen_.load(std::memory_order_acquire);
  const std::int64_t begin = mix_begin_.load(std::memory_order_acquire);
  const std::int64_t end = mix_end_.load(std::memory_order_acquire);
  const std::uint64_t g2 = mix_gen_.load(std::memory_order_acquire);
  return g1 == my_mix_gen_ && g2 == my_mix_gen_ && begin <= first && first + frames <= end;
}

void StemDeck::request_region(std::int64_t frame) noexcept {
  frame = std::clamp<std::int64_t>(frame, 0, frames_ - 1);
  // play_pos_ and the target are published by the release of the generation.
  play_pos_.store(frame, std::memory_order_relaxed);
  seek_target_.store(frame, std::memory_order_relaxed);
  my_gen_ = seek_gen_.fetch_add(1, std::memory_order_acq_rel) + 1;
}

void StemDeck::request_mix(std::int64_t frame) noexcept {
  play_pos_.store(frame, std::memory_order_relaxed);
  mix_seek_target_.store(frame, std::memory_order_relaxed);
  my_mix_gen_ = mix_seek_gen_.fetch_add(1, std::memory_order_acq_rel) + 1;
  reader_->wake();
}

void StemDeck::on_position(std::int64_t f) noexcept {
  if (f < 0 || f >= frames_) return;
  const std::int64_t played = play_pos_.load(std::memory_order_relaxed);
  // The mix: keep the reader's window when it already holds f (slots behind the playhead may
  // hold later frames, hence f >= played) or a seek to f is still on its way.
  const bool mix_pending = mix_gen_.load(std::memory_order_acquire) != my_mix_gen_;
  const bool keep_mix = mix_pending
                            ? mix_seek_target_.load(std::memory_order_relaxed) == f
                            : f >= played && f >= mix_begin_.load(std::memory_order_acquire) &&
                                  f <= mix_end_.load(std::memory_order_acquire);
  // The stems: keep the current region when it already reaches (or is about to reach) f going
  // forwards; otherwise separate from f first.
  const std::int64_t target = seek_target_.load(std::memory_order_relaxed);
  std::int64_t reach = target;
  if (region_gen_.load(std::memory_order_acquire) == my_gen_)
    reach = std::max(reach, ready_end_.load(std::memory_order_acquire));
  const bool keep_stems = f >= played && f >= target && f <= reach + segment_;
  if (!keep_mix) request_mix(f);
  if (!keep_stems) request_region(f);
  worker_->wake();
}

int StemDeck::ready_to_roll(jack_transport_state_t, jack_position_t* pos) noexcept {
  const auto f = static_cast<std::int64_t>(pos->frame);
  on_position(f);
  // A new position seen here needs no second look from process().
  rolling_ = false;
  const std::int64_t need = std::clamp<std::int64_t>(frames_ - f, 0, period_);
  return need == 0 || mix_ready(f, need) ? 1 : 0;
}

void StemDeck::process(const float* const*, float* const* out, std::uint32_t nframes) noexcept {
  DeckCommand cmd;
  while (commands_.try_dequeue(cmd)) apply(cmd);
  const auto n = static_cast<std::int64_t>(nframes);
  const int outs = 2 + channels_;
  jack_position_t pos{};
  if (client_->query_transport(&pos) != JackTransportRolling) {
    for (int o = 0; o < outs; ++o) std::memset(out[o], 0, nframes * sizeof(float));
    rolling_ = false;
    worker_->wake();
    reader_->wake();
    return;
  }
  const std::int64_t f = pos.frame;
  const std::int64_t in_song = std::clamp<std::int64_t>(frames_ - f, 0, n);
  if (!rolling_ || f != expected_) {
    on_position(f);
    blend_ = in_song > 0 && stems_ready(f, in_song) ? 1.0f : 0.0f;
    rolling_ = true;
  }
  expected_ = f + n;
  if (f < frames_) play_pos_.store(std::max<std::int64_t>(f, 0), std::memory_order_release);
  const bool ready = in_song > 0 && stems_ready(f, in_song);
  const bool have_mix = in_song > 0 && mix_ready(f, in_song);
  if (!ready) {
    mix_frames_.fetch_add(static_cast<std::uint64_t>(in_song), std::memory_order_relaxed);
    if (!have_mix)
      gap_frames_.fetch_add(static_cast<std::uint64_t>(in_song), std::memory_order_relaxed);
  }

  // Gains: targets from gain/mute/solo, reached linearly over this period.
  bool any_solo = false;
  for (int s = 0; s < S_; ++s) any_solo = any_solo || soloed_[s] != 0;
  float target[kMaxSources], step[kMaxSources], now[kMaxSources];
  for (int s = 0; s < S_; ++s) {
    const bool silent = muted_[s] != 0 || (any_solo && soloed_[s] == 0);
    target[s] = silent ? 0.0f : std::pow(10.0f, gain_db_[s] / 20.0f);
    now[s] = gain_now_[s];
    step[s] = (target[s] - now[s]) / static_cast<float>(n);
  }
  const float* mix = mix_.as<float>().data();
  const float* ring = ring_.as<float>().data();
  const float fade = 1.0f / static_cast<float>(crossfade_);
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t x = f + i;
    if (x < 0 || x >= frames_) {
      for (int o = 0; o < outs; ++o) out[o][i] = 0.0f;
      continue;
    }
    blend_ = ready ? std::min(1.0f, blend_ + (blend_ < 1.0f ? fade : 0.0f)) : 0.0f;
    const std::int64_t slot = x % capacity_;
    float sum[2] = {0.0f, 0.0f};
    const float* stems = ring + slot * channels_;
    for (int s = 0; s < S_; ++s) {
      const float g = i + 1 == n ? target[s] : now[s] + step[s] * static_cast<float>(i + 1);
      for (int c = 0; c < 2; ++c) {
        const float v = ready ? g * stems[s * 2 + c] : 0.0f;
        out[2 + s * 2 + c][i] = blend_ * v;
        sum[c] += v;
      }
    }
    for (int c = 0; c < 2; ++c) {
      const float m = have_mix && blend_ < 1.0f ? mix[slot * 2 + c] : 0.0f;
      out[c][i] = (1.0f - blend_) * m + blend_ * sum[c];
    }
  }
  for (int s = 0; s < S_; ++s) gain_now_[s] = target[s];
  worker_->wake();
  reader_->wake();
}

// ---------------------------------------------------------------- mix reader thread

void StemDeck::read_mix() {
  float* ring = mix_.as<float>().data();
  float* block = mix_in_.as<float>().data();
  while (!stopping_.load(std::memory_order_acquire)) {
    const std::uint64_t gen = mix_seek_gen_.load(std::memory_order_acquire);
    if (gen != mix_worker_gen_) {
      const std::int64_t target = mix_seek_target_.load(std::memory_order_relaxed);
      // Invalidate before moving the window (see stems_ready()).
      mix_end_.store(kInvalid, std::memory_order_release);
      mix_begin_.store(target, std::memory_order_release);
      mix_gen_.store(gen, std::memory_order_release);
      mix_reader_->seek(target);
      mix_cursor_ = target;
      mix_end_.store(target, std::memory_order_release);
      mix_worker_gen_ = gen;
      mix_seeks_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    const std::int64_t limit =
        std::min(frames_, play_pos_.load(std::memory_order_acquire) + capacity_);
    if (mix_cursor_ >= limit) return;  // the window is full: woken again next period
    const std::int64_t got = mix_reader_->read(block, std::min(kReadBlock, limit - mix_cursor_));
    if (got <= 0) return;
    for (std::int64_t i = 0; i < got; ++i) {
      float* slot = ring + ((mix_cursor_ + i) % capacity_) * 2;
      slot[0] = block[i * 2];
      slot[1] = block[i * 2 + 1];
    }
    mix_cursor_ += got;
    mix_end_.store(mix_cursor_, std::memory_order_release);
  }
}

// ---------------------------------------------------------------- separator thread

void StemDeck::begin_region(std::uint64_t gen) {
  // Aim past the playhead by the time the first stems will take (the chunks before and at
  // the target, at the measured seconds per chunk, with 50% spare), so they are ready when the
  // playhead gets there instead of chasing it; the mix plays until then.
  const std::int64_t lead = std::min<std::int64_t>(
      static_cast<std::int64_t>(1.5 * static_cast<double>(back_ + 2) * chunk_seconds_ * rate_),
      capacity_ / 2);
  const std::int64_t target = std::clamp<std::int64_t>(
      seek_target_.load(std::memory_order_acquire) + (gen == 0 ? 0 : lead), 0, frames_ - 1);
  // Invalidate before changing the region, so the audio thread never pairs the new
  // generation with the old region's frames.
  ready_end_.store(kInvalid, std::memory_order_release);
  region_begin_.store(target, std::memory_order_release);
  region_gen_.store(gen, std::memory_order_release);
  sep_.reset();  // its reservations go back to the budget first
  // The whole song's chunk grid, `back_` chunks before the target (see the header), in model
  // frames.
  const std::int64_t target_model = std::min(target * model_rate_ / rate_, model_frames_ - 1);
  // (stride_ is still 0 for region 0, which starts at 0 anyway.)
  const std::int64_t start =
      stride_ > 0 ? std::max<std::int64_t>(0, (target_model / stride_ - back_) * stride_) : 0;
  sep_.emplace(bag_, model_frames_ - start, sep_options_, budget_);
  sep_reader_->seek(start);
  region_start_ = start;
  region_target_ = target;
  in_cursor_ = start;
  pending_start_ = pending_count_ = pending_done_ = 0;
  pending_zero_ = false;
  flushed_ = false;
  if (stem_resampler_) {
    // Start the resampler where both rates meet, with silence up to the region start, so its
    // phase is that of resampling the whole song.
    const std::int64_t meet = start / step_model_ * step_model_;
    stem_resampler_->reset();
    zeros_left_ = start - meet;
    stems_cursor_ = meet / step_model_ * step_jack_;
  } else {
    zeros_left_ = 0;
    stems_cursor_ = start;
  }
  regions_.fetch_add(1, std::memory_order_relaxed);
}

void StemDeck::stage_stems(std::int64_t n, bool zeros) {
  // Model-rate frames (the separator's last output, or silence) -> JACK-rate frames to write.
  float* stage = stage_.as<float>().data();
  float* pending = pending_.as<float>().data();
  const auto ch = static_cast<std::size_t>(channels_);
  if (zeros) {
    std::fill(stage, stage + n * channels_, 0.0f);
  } else {
    for (std::int64_t t = 0; t < n; ++t)
      for (int s = 0; s < S_; ++s)
        for (int c = 0; c < 2; ++c) stage[t * channels_ + s * 2 + c] = sep_->output(s, c)[t];
  }
  std::int64_t made = n;
  if (stem_resampler_) {
    made = static_cast<std::int64_t>(stem_resampler_->process(
        std::span<const float>(stage, n * ch),
        std::span<float>(pending, static_cast<std::size_t>(pending_capacity_) * ch)));
  } else {
    std::copy(stage, stage + n * channels_, pending);
  }
  pending_start_ = stems_cursor_;
  pending_count_ = made;
  pending_done_ = 0;
  stems_cursor_ += made;
}

bool StemDeck::write_pending() {
  float* ring = ring_.as<float>().data();
  const float* pending = pending_.as<float>().data();
  const std::int64_t limit = play_pos_.load(std::memory_order_acquire) + capacity_;
  std::int64_t i = pending_done_;
  for (; i < pending_count_; ++i) {
    const std::int64_t x = pending_start_ + i;
    if (x < region_target_) continue;  // behind the playhead of this region
    if (x >= frames_) {                // past the song (the resampler's last frames)
      i = pending_count_;
      break;
    }
    if (x >= limit) break;  // the look-ahead is full: wait for the playhead
    float* slot = ring + (x % capacity_) * channels_;
    if (pending_zero_)
      std::fill(slot, slot + channels_, 0.0f);
    else
      std::copy(pending + i * channels_, pending + (i + 1) * channels_, slot);
  }
  pending_done_ = i;
  const std::int64_t end = std::min(pending_start_ + i, frames_);
  if (end > region_target_) {
    ready_end_.store(end, std::memory_order_release);
    if (first_stems_s_.load(std::memory_order_relaxed) < 0)
      first_stems_s_.store(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - created_).count(),
          std::memory_order_release);
  }
  return pending_done_ == pending_count_;
}

void StemDeck::work() {
  float* block = sep_in_.as<float>().data();
  while (!stopping_.load(std::memory_order_acquire)) {
    const std::uint64_t gen = seek_gen_.load(std::memory_order_acquire);
    if (gen != worker_gen_) {
      begin_region(gen);
      worker_gen_ = gen;
      continue;
    }
    if (pending_done_ < pending_count_) {
      if (!write_pending()) return;  // woken again next period
      continue;
    }
    if (zeros_left_ > 0) {
      const std::int64_t n = std::min(zeros_left_, stride_);
      stage_stems(n, true);
      zeros_left_ -= n;
      continue;
    }
    if (sep_->done()) {
      if (stem_resampler_ && !flushed_) {
        // The resampler's delayed tail.
        float* pending = pending_.as<float>().data();
        const std::size_t made = stem_resampler_->flush(
            std::span<float>(pending, static_cast<std::size_t>(pending_capacity_) * channels_));
        if (made == 0) flushed_ = true;
        pending_start_ = stems_cursor_;
        pending_count_ = static_cast<std::int64_t>(made);
        pending_done_ = 0;
        stems_cursor_ += pending_count_;
        continue;
      }
      if (stems_cursor_ < frames_ && stems_cursor_ >= region_target_) {
        // Resampling may end a frame or two short of the song: silence up to its end.
        pending_zero_ = true;
        pending_start_ = stems_cursor_;
        pending_count_ = frames_ - stems_cursor_;
        pending_done_ = 0;
        stems_cursor_ = frames_;
        continue;
      }
      return;
    }
    if (sep_->ready()) {
      const auto begin = std::chrono::steady_clock::now();
      const std::int64_t n = sep_->process();
      const double took =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
      chunk_seconds_ = chunk_seconds_ <= 0 ? took : 0.7 * chunk_seconds_ + 0.3 * took;
      stage_stems(n, false);
      continue;
    }
    const std::int64_t n =
        std::min<std::int64_t>({sep_->frames_wanted(), kReadBlock, model_frames_ - in_cursor_});
    if (n <= 0) return;
    const std::int64_t got = sep_reader_->read(block, n);
    if (got <= 0) return;
    sep_->push(block, got);
    in_cursor_ += got;
  }
}

}  // namespace earshot::stems
