// The deck against a private `jackd -d dummy -r 44100` with the small4 fixture model. A
// recorder client logs every output sample with the JACK transport frame it was played at, so
// "in sync, zero latency" is checked literally: the stem output at transport frame x equals
// the offline separation of the whole file (the library, in this test) at frame x, within the
// README tolerance (rel L2 <= 1e-4, max-abs <= 1e-4).
#include "nodes/stems/stem_deck.hpp"
#include "dsp/audio_file.hpp"
#include "dsp/resampler.hpp"
#include "rt/audio_thread_guard.hpp"
#include "rt/backends/audio_backend.hpp"
#include "tests/stems_live/frame_clients.hpp"
#include "tests/stems_live/stems_test_util.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

namespace earshot::stems {
namespace {

using test::TransportRecorder;

constexpr int kRate = 44100;

struct Fixture {
  rt::MemoryBudget budget{512u << 20};
  htdemucs::ModelBag bag = htdemucs::ModelBag::load(test::small4_dir(), budget);
  int S = bag.num_sources();
};

std::vector<float> interleave(const std::vector<std::vector<float>>& planar) {
  std::vector<float> out(planar[0].size() * 2);
  for (std::size_t t = 0; t < planar[0].size(); ++t)
    for (int c = 0; c < 2; ++c) out[t * 2 + c] = planar[c][t];
  return out;
}

std::vector<std::vector<float>> planar(const std::vector<float>& interleaved) {
  std::vector<std::vector<float>> out(2, std::vector<float>(interleaved.size() / 2));
  for (std::size_t t = 0; t < out[0].size(); ++t)
    for (int c = 0; c < 2; ++c) out[c][t] = interleaved[t * 2 + c];
  return out;
}

// Connects every deck output to the recorder, in order.
void connect_all(const StemDeck& deck, TransportRecorder& rec) {
  const auto ports = deck.client().output_port_names();
  for (std::size_t i = 0; i < ports.size(); ++i)
    ASSERT_TRUE(rec.connect(static_cast<int>(i), ports[i])) << ports[i];
}

// A temporary WAV file (float32) of planar stereo, removed at the end of the test.
struct TempWav {
  std::filesystem::path path;
  TempWav(const std::string& name, const std::vector<std::vector<float>>& planar_stereo,
          int rate = kRate) {
    path = std::filesystem::temp_directory_path() /
           ("earshot_deck_" + std::to_string(::getpid()) + "_" + name + ".wav");
    dsp::write_wav_atomic(path, interleave(planar_stereo), 2, rate, dsp::WavEncoding::Float32);
  }
  ~TempWav() { std::filesystem::remove(path); }
};

// One stretch of continuous playback: recorded samples [a, b) whose song frames follow each
// other. Before the stems are ready the master must be the mix exactly and the stem outputs
// silent; from `crossfade` frames after the first stem sample on, every stem output equals
// the offline stems (x gains) and master their sum; master is never silent.
struct StretchResult {
  std::int64_t first_song_frame = -1, first_stem_frame = -1;
  test::Error stems, master;
  double mix_phase_max_abs = 0.0;
  std::size_t quiet_blocks = 0, compared = 0;
};
StretchResult check_stretch(const TransportRecorder& rec, std::size_t a, std::size_t b,
                            const std::vector<std::vector<float>>& mix,
                            const std::vector<std::vector<float>>& offline,
                            const std::vector<float>& gains, std::int64_t crossfade) {
  StretchResult r;
  const auto& log = rec.song_frames();
  const auto& data = rec.recording();
  const int S = static_cast<int>(gains.size());
  r.first_song_frame = log[a];
  std::size_t first_stem = b;
  for (std::size_t k = a; k < b && first_stem == b; ++k)
    for (int o = 2; o < 2 + 2 * S; ++o)
      if (data[o][k] != 0.0f) first_stem = k;
  if (first_stem < b) r.first_stem_frame = log[first_stem];
  test::ErrorAccumulator stems, master;
  for (std::size_t k = a; k < b; ++k) {
    const std::int64_t x = log[k];
    if (k < first_stem) {
      for (int c = 0; c < 2; ++c)
        r.mix_phase_max_abs =
            std::max(r.mix_phase_max_abs, static_cast<double>(std::fabs(data[c][k] - mix[c][x])));
    } else if (k >= first_stem + static_cast<std::size_t>(crossfade)) {
      for (int c = 0; c < 2; ++c) {
        double sum = 0.0;
        for (int s = 0; s < S; ++s) {
          const float expected = gains[s] * offline[s * 2 + c][x];
          stems.add(data[2 + s * 2 + c][k], expected);
          sum += expected;
        }
        master.add(data[c][k], static_cast<float>(sum));
      }
      ++r.compared;
    }
  }
  // Never silence: every 256-frame block of master carries signal (the fixture music never
  // pauses; stems of a random-weight model need not sum to the mix, so no ratio is asked).
  for (std::size_t k = a; k + 256 <= b; k += 256) {
    double m2 = 0;
    for (std::size_t j = k; j < k + 256; ++j)
      for (int c = 0; c < 2; ++c) m2 += static_cast<double>(data[c][j]) * data[c][j];
    if (std::sqrt(m2 / 512) < 1e-4) ++r.quiet_blocks;
  }
  r.stems = stems.error();
  r.master = master.error();
  return r;
}

// Splits the recording into stretches of consecutive song frames.
std::vector<std::pair<std::size_t, std::size_t>> stretches(const TransportRecorder& rec) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  const auto& log = rec.song_frames();
  const std::size_t n = rec.recorded();
  std::size_t k = 0;
  while (k < n) {
    if (log[k] < 0) {
      ++k;
      continue;
    }
    std::size_t e = k + 1;
    while (e < n && log[e] == log[e - 1] + 1) ++e;
    out.emplace_back(k, e);
    k = e;
  }
  return out;
}

// Plays the fixture song from 0 on a server at `rate`, jumps to 6 s, and checks both stretches.
// At the model's rate the stems must equal the offline stems exactly (README tolerance) and
// master must be the file's mix bit for bit until then. At another rate the expectation is the
// offline stems (and the mix) resampled whole with dsp::resample; the deck resamples as a stream
// that starts at a region (see stem_deck.hpp), which may differ from the whole-song resampling
// by float rounding and by the filter warm-up after a seek: `resampled_tol` bounds that.
void play_jump_and_check(int rate, double resampled_tol) {
  test::JackServer server(rate, 256);
  ASSERT_TRUE(server.ready());
  Fixture fx;
  const dsp::AudioBuffer file =
      dsp::read_audio_stereo_44k(test::fixture("audio/music_44k_stereo.wav"));
  auto mix = planar(file.samples);
  auto offline = test::separate_offline(fx.bag, mix, fx.budget);
  if (rate != kRate) {
    mix = planar(dsp::resample(file.samples, 2, kRate, rate));
    for (int s = 0; s < fx.S; ++s) {
      const auto at_rate =
          planar(dsp::resample(interleave({offline[s * 2], offline[s * 2 + 1]}), 2, kRate, rate));
      offline[s * 2] = at_rate[0];
      offline[s * 2 + 1] = at_rate[1];
    }
  }
  const double max_abs_tol = rate == kRate ? 1e-4 : resampled_tol;
  const double rel_tol = rate == kRate ? 1e-4 : resampled_tol;

  DeckOptions options;
  options.lookahead_seconds = 2.0;  // 2 s ahead at most, so a jump to 6 s needs new stems
  TransportRecorder rec("deck-recorder", 2 + 2 * fx.S, 5 * rate);
  ASSERT_TRUE(rec.ok());
  jack_transport_stop(rec.client());
  jack_transport_locate(rec.client(), 0);
  rec.activate();

  rt::guard::reset();
  StemDeck deck(fx.bag, test::fixture("audio/music_44k_stereo.wav").string(), options, fx.budget);
  EXPECT_EQ(deck.rate(), rate);
  EXPECT_EQ(deck.resampling(), rate != kRate);
  EXPECT_EQ(deck.song_frames(), static_cast<std::int64_t>(mix[0].size()));
  deck.start();
  connect_all(deck, rec);
  // Roll once the first segments are ready (a slow sanitizer build on a loaded machine could
  // otherwise stay behind the playhead; the mix-first path is checked after the locate).
  ASSERT_TRUE(test::wait_for(
      [&] { return deck.ready_end() >= 2 * deck.stride() * rate / deck.model_rate(); }, 60));
  rec.arm();
  jack_transport_start(rec.client());
  ASSERT_TRUE(test::wait_for(
      [&] {
        const std::size_t n = rec.recorded();
        return n > 0 && rec.song_frames()[n - 1] > rate / 2;
      },
      30));
  const std::int64_t jump = 6 * rate;
  jack_transport_locate(rec.client(), static_cast<jack_nframes_t>(jump));
  ASSERT_TRUE(test::wait_for([&] { return rec.full(); }, 60)) << rec.recorded();
  deck.stop();
  EXPECT_TRUE(rt::guard::installed());
  EXPECT_EQ(rt::guard::violations(), 0u) << rt::guard::first_violation_or_none();
  deck.rethrow_if_failed();
  EXPECT_EQ(deck.regions_started(), 2u);
  // The mix is streamed from disk: the jump made the reader seek, and the transport waited for
  // it (slow sync), so no frame was ever played before its mix was read.
  EXPECT_EQ(deck.mix_seeks(), 2u);
  EXPECT_EQ(deck.gap_frames(), 0u);
  std::printf("at %d Hz: time to first stems: %.3f s\n", rate, deck.time_to_first_stems());
  EXPECT_GT(deck.time_to_first_stems(), 0.0);

  const auto parts = stretches(rec);
  ASSERT_EQ(parts.size(), 2u) << "expected: playing from 0, then from the jump";
  const std::vector<float> unity(fx.S, 1.0f);
  for (std::size_t p = 0; p < parts.size(); ++p) {
    const auto r = check_stretch(rec, parts[p].first, parts[p].second, mix, offline, unity, 2048);
    std::printf(
        "stretch from %lld: stems from %lld (%.1f ms of mix, mix max-abs %.3g), %zu frames "
        "compared: stems rel L2 %.3g max-abs %.3g, master rel L2 %.3g max-abs %.3g\n",
        static_cast<long long>(r.first_song_frame), static_cast<long long>(r.first_stem_frame),
        1000.0 * (r.first_stem_frame - r.first_song_frame) / rate, r.mix_phase_max_abs, r.compared,
        r.stems.rel_l2, r.stems.max_abs, r.master.rel_l2, r.master.max_abs);
    EXPECT_EQ(r.first_song_frame, p == 0 ? 0 : jump);
    ASSERT_GE(r.first_stem_frame, r.first_song_frame) << "the stems never came";
    if (rate == kRate)
      EXPECT_EQ(r.mix_phase_max_abs, 0.0) << "before the stems, master must be the mix";
    else
      EXPECT_LE(r.mix_phase_max_abs, resampled_tol) << "before the stems, master must be the mix";
    EXPECT_GT(r.compared, static_cast<std::size_t>(rate / 4));
    EXPECT_LE(r.stems.rel_l2, rel_tol);
    EXPECT_LE(r.stems.max_abs, max_abs_tol);
    EXPECT_LE(r.master.rel_l2, rel_tol);
    EXPECT_LE(r.master.max_abs, max_abs_tol);
    EXPECT_EQ(r.quiet_blocks, 0u) << "master went silent";
  }
  // After the jump the mix played first: the stems of 6 s were not in the look-ahead.
  EXPECT_GT(check_stretch(rec, parts[1].first, parts[1].second, mix, offline, unity, 2048)
                .first_stem_frame,
            jump);
}

TEST(StemDeck, StemsInSyncWithOfflineStemsAndMixFirstAfterALocate) {
  play_jump_and_check(kRate, 0.0);
}

// A server at 48 kHz: mix read at 48 kHz, stems separated at 44.1 kHz and resampled.
TEST(StemDeck, PlaysAtAServerRateOtherThanTheModels) {
  play_jump_and_check(48000, 1e-5);
}

// The deck streams the song: what it reserves depends on the look-ahead and the model, not on
// the length of the file. A 10 s and a 200 s song reserve the same bytes.
TEST(StemDeck, MemoryDoesNotDependOnTheSongLength) {
  test::JackServer server(kRate, 256);
  ASSERT_TRUE(server.ready());
  std::vector<std::size_t> active, peak;
  for (const int seconds : {10, 200}) {
    rt::MemoryBudget budget{256u << 20};
    auto bag = htdemucs::ModelBag::load(test::small4_dir(), budget);
    const std::size_t model_bytes = budget.active();
    std::vector<std::vector<float>> song(2, std::vector<float>(std::size_t(seconds) * kRate));
    std::uint32_t seed = 12345;
    for (auto& channel : song)
      for (float& v : channel) {
        seed = seed * 1664525u + 1013904223u;
        v = 0.25f * (static_cast<float>(seed >> 8) / 8388608.0f - 1.0f);
      }
    const auto path = std::filesystem::temp_directory_path() /
                      ("earshot_deck_" + std::to_string(::getpid()) + "_long.wav");
    dsp::write_wav_atomic(path, interleave(song), 2, kRate, dsp::WavEncoding::Pcm16);
    song.clear();
    song.shrink_to_fit();
    {
      DeckOptions options;
      options.lookahead_seconds = 4.0;
      StemDeck deck(bag, path.string(), options, budget);
      EXPECT_EQ(deck.song_frames(), std::int64_t{seconds} * kRate);
      deck.start();
      // Separating and reading ahead: the windows are full or the first segments are out.
      ASSERT_TRUE(test::wait_for(
          [&] { return deck.ready_end() >= 2 * deck.stride() && deck.mix_end() >= 2 * kRate; },
          60));
      active.push_back(budget.active() - model_bytes);
      peak.push_back(budget.peak() - model_bytes);
      deck.stop();
      deck.rethrow_if_failed();
    }
    std::filesystem::remove(path);
    std::printf("%d s song: the deck reserves %s (peak %s) beside the model\n", seconds,
                rt::format_bytes(active.back()).c_str(), rt::format_bytes(peak.back()).c_str());
  }
  EXPECT_EQ(active[0], active[1]);
  EXPECT_EQ(peak[0], peak[1]);
  // Bounded by the look-ahead: 4 s of stems and mix (10 float channels) plus the separator.
  EXPECT_LT(active[0], std::size_t{64} << 20);
}

TEST(StemDeck, MuteGainAndSoloCommandsTakeEffect) {
  test::JackServer server(kRate, 256);
  ASSERT_TRUE(server.ready());
  Fixture fx;
  const auto mix = test::small4_mix();
  const auto offline = test::separate_offline(fx.bag, mix, fx.budget);
  TransportRecorder rec("deck-recorder", 2 + 2 * fx.S, kRate / 4);
  ASSERT_TRUE(rec.ok());
  jack_transport_stop(rec.client());
  jack_transport_locate(rec.client(), 0);
  rec.activate();
  const TempWav song("mix", mix);
  StemDeck deck(fx.bag, song.path.string(), {}, fx.budget);
  deck.start();
  connect_all(deck, rec);
  // The whole (short) song separated before playing: stems from the first frame.
  ASSERT_TRUE(test::wait_for([&] { return deck.ready_end() == deck.song_frames(); }, 60));
  EXPECT_THROW(deck.send("mute kazoo"), std::invalid_argument);
  EXPECT_THROW(deck.send("gain vocals loud"), std::invalid_argument);
  jack_transport_start(rec.client());
  deck.send("mute drums");
  deck.send("gain vocals -6");
  ASSERT_TRUE(test::wait_for([&] { return deck.commands_applied() == 2; }, 10));
  rec.arm();
  ASSERT_TRUE(test::wait_for([&] { return rec.full(); }, 30));
  const float g6 = std::pow(10.0f, -6.0f / 20.0f);
  // Skip two periods: the gains ramp over the period in which the commands arrived.
  const auto first = stretches(rec);
  ASSERT_EQ(first.size(), 1u);
  auto r = check_stretch(rec, first[0].first + 512, first[0].second, mix, offline,
                         {0.0f, 1.0f, 1.0f, g6}, 0);
  EXPECT_GT(r.compared, 10000u);
  EXPECT_LE(r.stems.rel_l2, 1e-4);
  EXPECT_LE(r.stems.max_abs, 1e-4);
  EXPECT_LE(r.master.rel_l2, 1e-4);
  EXPECT_LE(r.master.max_abs, 1e-4);

  // Solo bass: only bass is heard. Stop, change, and roll on from where the transport stopped
  // (the stems there are already in the look-ahead: no mix phase).
  jack_transport_stop(rec.client());
  deck.send("reset");
  deck.send("solo bass");
  ASSERT_TRUE(test::wait_for([&] { return deck.commands_applied() == 4; }, 10));
  TransportRecorder rec2("deck-recorder2", 2 + 2 * fx.S, kRate / 4);
  rec2.activate();
  connect_all(deck, rec2);
  jack_transport_start(rec.client());
  rec2.arm();
  ASSERT_TRUE(test::wait_for([&] { return rec2.full(); }, 30));
  jack_transport_stop(rec.client());
  const auto parts = stretches(rec2);
  ASSERT_FALSE(parts.empty());
  r = check_stretch(rec2, parts[0].first + 512, parts[0].second, mix, offline,
                    {0.0f, 1.0f, 0.0f, 0.0f}, 0);
  EXPECT_GT(r.compared, 5000u);
  EXPECT_LE(r.stems.rel_l2, 1e-4);
  EXPECT_LE(r.master.max_abs, 1e-4);
  deck.stop();
}

TEST(StemDeck, CommandParser) {
  const std::vector<std::string> sources{"drums", "bass", "other", "vocals"};
  auto c = parse_deck_command("gain vocals -6", sources);
  EXPECT_EQ(c.op, DeckCommand::Op::Gain);
  EXPECT_EQ(c.source, 3);
  EXPECT_FLOAT_EQ(c.gain_db, -6.0f);
  EXPECT_EQ(parse_deck_command("mute all", sources).source, -1);
  EXPECT_EQ(parse_deck_command("solo bass", sources).op, DeckCommand::Op::Solo);
  EXPECT_EQ(parse_deck_command("unmute drums", sources).op, DeckCommand::Op::Unmute);
  EXPECT_THROW(parse_deck_command("gain vocals +20", sources), std::invalid_argument);
  EXPECT_THROW(parse_deck_command("gain vocals nan", sources), std::invalid_argument);
  EXPECT_THROW(parse_deck_command("mute", sources), std::invalid_argument);
  EXPECT_THROW(parse_deck_command("mute drums now", sources), std::invalid_argument);
  EXPECT_THROW(parse_deck_command("explode", sources), std::invalid_argument);
}

}  // namespace
}  // namespace earshot::stems
