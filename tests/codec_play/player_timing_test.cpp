// The player against the virtual clock: codes that arrive in time play as the offline decode;
// codes that arrive late leave silence exactly where their audio was missing, counted, and the
// delay after the gap is the jitter buffer whatever the gap's length; the end drains everything.
#include "rt/backends/stream_resampler.hpp"
#include "tests/codec_play/play_test_util.hpp"

namespace earshot::codec::test {
namespace {

constexpr std::uint32_t kPeriod = 240;  // 10 ms at 24 kHz
constexpr std::int64_t kLead = 10;      // frames the producer starts ahead (> start delay + buffer)

// A producer running at real time (3 frames per 4 periods of 10 ms), kLead frames ahead.
std::int64_t real_time_due(std::uint64_t period) {
  return std::min<std::int64_t>(kFrames, kLead + static_cast<std::int64_t>((period + 1) * 3 / 4));
}

TEST(CodecPlayer, CodesInTimePlayTheOfflineDecode) {
  const auto& ref = reference();
  ClockedPlayer run(24000, kPeriod);
  while (run.fed() < kFrames) {
    run.feed_until(real_time_due(run.periods_run()));
    run.run();
  }
  run.close_input();
  run.run_until_done();
  const auto s = run.player().stats();
  EXPECT_EQ(s.late_events, 0u);
  EXPECT_EQ(s.late_silence_frames, 0u);
  EXPECT_EQ(s.frames_delivered, kFrames);
  EXPECT_EQ(s.start_delay_frames, 0);  // kLead frames were there before the first period
  ASSERT_EQ(run.player().end_frame(), static_cast<std::uint64_t>(kFrames * kHop));
  ASSERT_GE(run.output().size(), ref.audio.size());
  const float err = max_abs_diff(run.output().data(), ref.audio.data(), ref.audio.size());
  std::printf("in time: max |played - offline| = %.3g over %zu samples\n", err, ref.audio.size());
  EXPECT_LE(err, 1e-5f);
  for (std::size_t i = ref.audio.size(); i < run.output().size(); ++i)
    ASSERT_EQ(run.output()[i], 0.0f) << "after the end, sample " << i;
}

struct GapResult {
  std::uint64_t resume_period = 0;  // the period in which the first late frame arrived
  std::uint64_t resumed_at = 0;     // output sample where the audio after the gap starts
  std::uint64_t late_silence = 0;
};

// The producer stops after frame `stall_at` for `gap_periods` periods, then resumes at real time.
GapResult play_with_gap(std::int64_t stall_at, std::uint64_t gap_periods) {
  const auto& ref = reference();
  ClockedPlayer run(24000, kPeriod);
  std::uint64_t p = 0;
  for (; run.fed() < stall_at; ++p) {
    run.feed_until(std::min(stall_at, real_time_due(p)));
    run.run();
  }
  const std::uint64_t resume = p + gap_periods;
  for (; p < resume; ++p) run.run();  // nothing arrives
  for (; run.fed() < kFrames; ++p) {
    run.feed_until(std::min<std::int64_t>(
        kFrames, stall_at + 1 + static_cast<std::int64_t>((p - resume) * 3 / 4)));
    run.run();
  }
  run.close_input();
  run.run_until_done();

  const auto s = run.player().stats();
  const auto& out = run.output();
  const std::size_t before = static_cast<std::size_t>(stall_at * kHop);  // audio before the gap
  GapResult r{resume, before + s.late_silence_frames, s.late_silence_frames};
  EXPECT_EQ(s.late_events, 1u);
  EXPECT_EQ(s.start_delay_frames, 0);
  EXPECT_GT(s.late_silence_frames, gap_periods * kPeriod / 2);
  // Exactly: the audio before the gap, then the counted silence, then the rest of the audio.
  EXPECT_EQ(run.player().end_frame(), ref.audio.size() + s.late_silence_frames);
  EXPECT_LE(max_abs_diff(out.data(), ref.audio.data(), before), 1e-5f);
  for (std::size_t i = before; i < r.resumed_at; ++i)
    EXPECT_EQ(out[i], 0.0f) << "sample " << i << " inside the gap";
  const std::size_t rest = ref.audio.size() - before;
  EXPECT_NE(out[r.resumed_at], 0.0f);
  EXPECT_LE(max_abs_diff(out.data() + r.resumed_at, ref.audio.data() + before, rest), 1e-5f);
  return r;
}

TEST(CodecPlayer, LateCodesLeaveCountedSilenceAndBoundedLatency) {
  const std::uint32_t buffer = 1920;  // 80 ms at 24 kHz
  const auto shorter = play_with_gap(150, 30);
  const auto longer = play_with_gap(150, 120);
  // Delay from the arrival of the first late frame to its first sample: the jitter buffer
  // (refilled at real time), not the gap.
  const auto delay = [](const GapResult& r) {
    return static_cast<std::int64_t>(r.resumed_at) -
           static_cast<std::int64_t>(r.resume_period * kPeriod);
  };
  std::printf(
      "gap 30 periods: silence %llu, resume delay %lld samples; gap 120: %llu, %lld\n",
      static_cast<unsigned long long>(shorter.late_silence), static_cast<long long>(delay(shorter)),
      static_cast<unsigned long long>(longer.late_silence), static_cast<long long>(delay(longer)));
  EXPECT_EQ(delay(shorter), delay(longer));
  EXPECT_GE(delay(shorter), 0);
  EXPECT_LE(delay(shorter), static_cast<std::int64_t>(buffer + kPeriod));
  // 90 more periods of gap = 90 more periods of silence, nothing else moves.
  EXPECT_EQ(longer.late_silence - shorter.late_silence, 90u * kPeriod);
}

TEST(CodecPlayer, EndOfStreamDrainsEverything) {
  // Streams shorter than the decoder's start wait come out only at the end (finish()), and a
  // stream that ends before the jitter buffer fills plays at once.
  for (std::int64_t frames : {1, 3, 7, 20}) {
    const auto expected = reference().offline(frames);
    ClockedPlayer run(24000, kPeriod, 500);
    run.feed_until(frames);
    run.run(3);
    EXPECT_EQ(run.player().stats().audio_frames_played, 0u) << "before the buffer filled";
    run.close_input();
    run.run_until_done();
    ASSERT_EQ(run.player().end_frame(), 3 * kPeriod + expected.size()) << frames << " frames";
    EXPECT_LE(max_abs_diff(run.output().data() + 3 * kPeriod, expected.data(), expected.size()),
              1e-5f);
    EXPECT_EQ(run.player().stats().late_silence_frames, 0u);
    EXPECT_EQ(run.player().stats().start_delay_frames, 3 * kPeriod);
  }
}

TEST(CodecPlayer, ResamplesToTheDeviceRate) {
  const auto& ref = reference();
  ClockedPlayer run(48000, 2 * kPeriod);
  while (run.fed() < kFrames) {
    run.feed_until(real_time_due(run.periods_run()));
    run.run();
  }
  run.close_input();
  run.run_until_done();
  const auto s = run.player().stats();
  EXPECT_EQ(s.late_events, 0u);
  EXPECT_NEAR(static_cast<double>(s.audio_frames_played), 2.0 * ref.audio.size(), 64);
  EXPECT_EQ(run.player().end_frame(), s.audio_frames_played);
  // The streamed conversion (4 frames at a time, through the ring) equals converting the whole
  // offline decode in one go with the same libsoxr converter.
  rt::StreamResampler whole(24000, 48000, 1);
  std::vector<float> expected(whole.max_output_frames(ref.audio.size()) + 8192);
  std::size_t consumed = 0;
  std::size_t n =
      whole.process(ref.audio.data(), ref.audio.size(), consumed, expected.data(), expected.size());
  ASSERT_EQ(consumed, ref.audio.size());
  while (const std::size_t got = whole.flush(expected.data() + n, expected.size() - n)) n += got;
  ASSERT_EQ(s.audio_frames_played, n);
  const float err = max_abs_diff(run.output().data(), expected.data(), n);
  std::printf("48 kHz: max |streamed - one-shot conversion| = %.3g\n", err);
  EXPECT_LE(err, 1e-5f);
}

TEST(CodecPlayer, BadCodesStopTheStreamAfterPlayingWhatCameBefore) {
  const auto& ref = reference();
  ClockedPlayer run(24000, kPeriod);
  run.feed_until(20);
  std::string bad = ref.i16_bytes(20, 21);
  bad[6] = static_cast<char>(0x88);  // codebook 3 of frame 20: 0x13?? -> far out of range
  bad[7] = static_cast<char>(0x13);
  run.write_bytes(bad);
  run.close_input();
  run.run_until_done();
  EXPECT_TRUE(run.player().failed());
  EXPECT_NE(run.player().error().find("frame 20, codebook 3"), std::string::npos)
      << run.player().error();
  const auto expected = ref.offline(20);
  ASSERT_EQ(run.player().end_frame(), expected.size());
  EXPECT_LE(max_abs_diff(run.output().data(), expected.data(), expected.size()), 1e-5f);
}

TEST(CodecPlayer, TruncatedFrameAtTheEndIsReported) {
  ClockedPlayer run(24000, kPeriod);
  run.feed_until(10);
  run.write_bytes(reference().i16_bytes(10, 11).substr(0, 5));
  run.close_input();
  run.run_until_done();
  EXPECT_TRUE(run.player().failed());
  EXPECT_NE(run.player().error().find("ended inside frame 10"), std::string::npos)
      << run.player().error();
  EXPECT_EQ(run.player().end_frame(), 10u * kHop);
}

}  // namespace
}  // namespace earshot::codec::test
