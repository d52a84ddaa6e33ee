// The audio callback of the player does nothing forbidden on the audio thread: no allocation,
// no free, no mutex, through start, a late gap (silence and re-buffering), resampling and the
// drain at the end. The audio-thread guard (earshot_rt_guard) watches every period.
#include "rt/audio_thread_guard.hpp"
#include "tests/codec_play/play_test_util.hpp"

namespace earshot::codec::test {
namespace {

TEST(CodecPlayerRealTime, CallbackNeitherAllocatesNorLocks) {
  ASSERT_TRUE(rt::guard::installed());
  for (const double rate : {24000.0, 48000.0}) {
    const std::uint32_t period = rate > 24000 ? 480 : 240;
    ClockedPlayer run(rate, period);
    rt::guard::reset();
    std::uint64_t p = 0;
    for (; run.fed() < 120; ++p) {
      run.feed_until(std::min<std::int64_t>(120, 10 + static_cast<std::int64_t>((p + 1) * 3 / 4)));
      run.run();
    }
    run.run(60);  // the producer stalls: the ring runs dry
    for (std::uint64_t q = 0; run.fed() < kFrames; ++q) {
      run.feed_until(std::min<std::int64_t>(kFrames, 121 + static_cast<std::int64_t>(q * 3 / 4)));
      run.run();
    }
    run.close_input();
    run.run_until_done();
    EXPECT_EQ(rt::guard::violations(), 0u)
        << rt::guard::first_violation_or_none() << " at " << rate << " Hz";
    EXPECT_EQ(run.player().stats().late_events, 1u);
    EXPECT_GT(run.player().stats().late_silence_frames, 0u);
  }
}

}  // namespace
}  // namespace earshot::codec::test
