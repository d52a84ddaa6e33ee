#include "nodes/stems/stem_deck.hpp"

#include "rt/backends/audio_backend.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace earshot::stems {
namespace {

constexpr int kMaxSources = 8;
constexpr std::int64_t kInvalid = std::numeric_limits<std::int64_t>::min();

}  // namespace

StemDeck::StemDeck(htdemucs::ModelBag& bag, const std::vector<float>& song,
                   const DeckOptions& options, rt::MemoryBudget& budget)
    : bag_(bag), budget_(budget), created_(std::chrono::steady_clock::now()) {
  if (bag.audio_channels() != 2)
    throw std::invalid_argument("the deck needs a stereo model (audio_channels = 2)");
  if (options.overlap < 0.0 || options.overlap >= 1.0)
    throw std::invalid_argument("--overlap must be in [0, 1)");
  frames_ = static_cast<std::int64_t>(song.size() / 2);
  if (frames_ == 0) throw std::invalid_argument("the song is empty");
  sources_ = bag.config().sources;
  S_ = bag.num_sources();
  channels_ = 2 * S_;
  if (S_ > kMaxSources) throw std::invalid_argument("the deck mixes at most 8 sources");
  std::vector<std::string> outputs{"master_L", "master_R"};
  for (const auto& source : sources_) {
    outputs.push_back(source + "_L");
    outputs.push_back(source + "_R");
  }
  client_ =
      std::make_unique<JackPortClient>(options.client_name, std::vector<std::string>{}, outputs);
  const std::uint32_t rate = client_->sample_rate();
  if (static_cast<int>(rate) != bag.samplerate())
    throw rt::BackendError("the JACK server runs at " + std::to_string(rate) +
                           " Hz but the model separates at " + std::to_string(bag.samplerate()) +
                           " Hz; the deck does not resample its output: restart jackd with -r " +
                           std::to_string(bag.samplerate()));

  song_ = budget.reserve_array<float>("deck song", song.size());
  std::copy(song.begin(), song.end(), song_.as<float>().begin());
  sep_options_.segment = options.segment;
  sep_options_.overlap = options.overlap;
  // Region 0: from the start of the song (also fixes segment and stride).
  seek_target_.store(0);
  begin_region(0);
  worker_gen_ = 0;
  segment_ = sep_->segment();
  stride_ = sep_->stride();
  back_ = (segment_ - stride_ + stride_ - 1) / stride_;
  capacity_ = options.lookahead > 0 ? options.lookahead : 30 * static_cast<std::int64_t>(rate);
  capacity_ = std::max(capacity_, segment_ + stride_);
  crossfade_ = std::max<std::int64_t>(1, options.crossfade);
  ring_ = budget.reserve_array<float>("deck look-ahead stems",
                                      static_cast<std::size_t>(capacity_) * channels_);
  gain_db_.assign(S_, 0.0f);
  gain_now_.assign(S_, 1.0f);
  muted_.assign(S_, 0);
  soloed_.assign(S_, 0);
  worker_ = std::make_unique<rt::WorkerThread>("earshot-deck", [this] { work(); });
  worker_->wake();
}

StemDeck::~StemDeck() {
  stop();
}

void StemDeck::start() {
  if (active_) return;
  client_->activate(*this);
  active_ = true;
}

void StemDeck::stop() {
  if (active_) {
    client_->deactivate();
    active_ = false;
  }
  stopping_.store(true, std::memory_order_release);
  if (worker_) worker_->stop();
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

void StemDeck::request_region(std::int64_t frame) noexcept {
  frame = std::clamp<std::int64_t>(frame, 0, frames_ - 1);
  // play_pos_ and the target are published by the release of the generation.
  play_pos_.store(frame, std::memory_order_relaxed);
  seek_target_.store(frame, std::memory_order_relaxed);
  my_gen_ = seek_gen_.fetch_add(1, std::memory_order_acq_rel) + 1;
}

void StemDeck::process(const float* const*, float* const* out, jack_nframes_t nframes,
                       jack_client_t* client) noexcept {
  DeckCommand cmd;
  while (commands_.try_dequeue(cmd)) apply(cmd);
  const auto n = static_cast<std::int64_t>(nframes);
  const int outs = 2 + channels_;
  jack_position_t pos{};
  if (jack_transport_query(client, &pos) != JackTransportRolling) {
    for (int o = 0; o < outs; ++o) std::memset(out[o], 0, nframes * sizeof(float));
    rolling_ = false;
    worker_->wake();
    return;
  }
  const std::int64_t f = pos.frame;
  const std::int64_t in_song = std::clamp<std::int64_t>(frames_ - f, 0, n);
  if (!rolling_ || f != expected_) {
    // A start or a jump: keep the current region when it already reaches (or is about to
    // reach) f going forwards; otherwise separate from f first.
    const std::int64_t target = seek_target_.load(std::memory_order_relaxed);
    std::int64_t reach = target;
    if (region_gen_.load(std::memory_order_acquire) == my_gen_)
      reach = std::max(reach, ready_end_.load(std::memory_order_acquire));
    const bool keep =
        f >= play_pos_.load(std::memory_order_relaxed) && f >= target && f <= reach + segment_;
    if (!keep && f < frames_) request_region(f);
    blend_ = in_song > 0 && stems_ready(f, in_song) ? 1.0f : 0.0f;
    rolling_ = true;
  }
  expected_ = f + n;
  if (f < frames_) play_pos_.store(std::max<std::int64_t>(f, 0), std::memory_order_release);
  const bool ready = in_song > 0 && stems_ready(f, in_song);
  if (!ready) mix_frames_.fetch_add(static_cast<std::uint64_t>(in_song), std::memory_order_relaxed);

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
  const float* song = song_.as<float>().data();
  const float* ring = ring_.as<float>().data();
  const float fade = 1.0f / static_cast<float>(crossfade_);
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t x = f + i;
    if (x < 0 || x >= frames_) {
      for (int o = 0; o < outs; ++o) out[o][i] = 0.0f;
      continue;
    }
    blend_ = ready ? std::min(1.0f, blend_ + (blend_ < 1.0f ? fade : 0.0f)) : 0.0f;
    float sum[2] = {0.0f, 0.0f};
    const float* stems = ring + (x % capacity_) * channels_;
    for (int s = 0; s < S_; ++s) {
      const float g = i + 1 == n ? target[s] : now[s] + step[s] * static_cast<float>(i + 1);
      for (int c = 0; c < 2; ++c) {
        const float v = ready ? g * stems[s * 2 + c] : 0.0f;
        out[2 + s * 2 + c][i] = blend_ * v;
        sum[c] += v;
      }
    }
    for (int c = 0; c < 2; ++c) out[c][i] = (1.0f - blend_) * song[x * 2 + c] + blend_ * sum[c];
  }
  for (int s = 0; s < S_; ++s) gain_now_[s] = target[s];
  worker_->wake();
}

// ---------------------------------------------------------------- worker thread

void StemDeck::begin_region(std::uint64_t gen) {
  // Aim past the playhead by the time the first stems will take (the chunks before and at
  // the target, at the measured seconds per chunk, with 50% spare), so they are ready when the
  // playhead gets there instead of chasing it; the mix plays until then.
  const double rate = bag_.samplerate();
  const std::int64_t lead = std::min<std::int64_t>(
      static_cast<std::int64_t>(1.5 * static_cast<double>(back_ + 2) * chunk_seconds_ * rate),
      capacity_ / 2);
  const std::int64_t target = std::clamp<std::int64_t>(
      seek_target_.load(std::memory_order_acquire) + (gen == 0 ? 0 : lead), 0, frames_ - 1);
  // Invalidate before changing the region, so the audio thread never pairs the new
  // generation with the old region's frames.
  ready_end_.store(kInvalid, std::memory_order_release);
  region_begin_.store(target, std::memory_order_release);
  region_gen_.store(gen, std::memory_order_release);
  sep_.reset();  // its reservations go back to the budget first
  // The whole song's chunk grid, `back_` chunks before the target (see the header).
  const std::int64_t start =
      stride_ > 0 ? std::max<std::int64_t>(0, (target / stride_ - back_) * stride_) : 0;
  sep_.emplace(bag_, frames_ - start, sep_options_, budget_);
  region_start_ = start;
  region_target_ = target;
  in_cursor_ = start;
  pending_ = pending_done_ = 0;
  regions_.fetch_add(1, std::memory_order_relaxed);
}

bool StemDeck::write_pending() {
  const std::int64_t start = region_start_ + sep_->output_start();
  float* ring = ring_.as<float>().data();
  const std::int64_t limit = play_pos_.load(std::memory_order_acquire) + capacity_;
  std::int64_t i = pending_done_;
  for (; i < pending_; ++i) {
    const std::int64_t x = start + i;
    if (x < region_target_) continue;  // behind the playhead of this region
    if (x >= limit) break;             // the look-ahead is full: wait for the playhead
    float* slot = ring + (x % capacity_) * channels_;
    for (int s = 0; s < S_; ++s)
      for (int c = 0; c < 2; ++c) slot[s * 2 + c] = sep_->output(s, c)[i];
  }
  pending_done_ = i;
  const std::int64_t end = start + i;
  if (end > region_target_) {
    ready_end_.store(end, std::memory_order_release);
    if (first_stems_s_.load(std::memory_order_relaxed) < 0)
      first_stems_s_.store(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - created_).count(),
          std::memory_order_release);
  }
  return pending_done_ == pending_;
}

void StemDeck::work() {
  const float* song = song_.as<float>().data();
  while (!stopping_.load(std::memory_order_acquire)) {
    const std::uint64_t gen = seek_gen_.load(std::memory_order_acquire);
    if (gen != worker_gen_) {
      begin_region(gen);
      worker_gen_ = gen;
      continue;
    }
    if (pending_done_ < pending_) {
      if (!write_pending()) return;  // woken again next period
      continue;
    }
    if (sep_->done()) return;
    if (sep_->ready()) {
      const auto begin = std::chrono::steady_clock::now();
      pending_ = sep_->process();
      const double took =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
      chunk_seconds_ = chunk_seconds_ <= 0 ? took : 0.7 * chunk_seconds_ + 0.3 * took;
      pending_done_ = 0;
      continue;
    }
    const std::int64_t n =
        std::min<std::int64_t>({sep_->frames_wanted(), 4096, frames_ - in_cursor_});
    if (n <= 0) return;
    sep_->push(song + in_cursor_ * 2, n);
    in_cursor_ += n;
  }
}

}  // namespace earshot::stems
