// Interleaved <-> planar conversion, on plain buffers and through a ring, including the wrap
// and a two-thread run.
#include "rt/interleave.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <thread>
#include <vector>

#include "tests/rt/stress_config.hpp"

namespace earshot::rt {
namespace {

// Sample value that encodes where it came from: channel c, frame f.
float tag(std::size_t channel, std::size_t frame) {
  return static_cast<float>(channel * 100000 + frame);
}

struct Planar {
  Planar(std::size_t channels, std::size_t frames) : data(channels, std::vector<float>(frames)) {
    for (auto& ch : data) {
      in.push_back(ch.data());
      out.push_back(ch.data());
    }
  }
  std::vector<std::vector<float>> data;
  std::vector<const float*> in;
  std::vector<float*> out;
};

TEST(Interleave, PlainBuffersRoundTrip) {
  constexpr std::size_t kChannels = 3, kFrames = 5;
  Planar src(kChannels, kFrames);
  for (std::size_t c = 0; c < kChannels; ++c)
    for (std::size_t f = 0; f < kFrames; ++f) src.data[c][f] = tag(c, f);

  std::vector<float> interleaved(kChannels * kFrames);
  interleave<float>(src.in, kFrames, interleaved);
  EXPECT_EQ(interleaved[0], tag(0, 0));
  EXPECT_EQ(interleaved[1], tag(1, 0));
  EXPECT_EQ(interleaved[2], tag(2, 0));
  EXPECT_EQ(interleaved[3], tag(0, 1));
  EXPECT_EQ(interleaved[14], tag(2, 4));

  Planar dst(kChannels, kFrames);
  deinterleave<float>(interleaved, kFrames, dst.out);
  EXPECT_EQ(dst.data, src.data);
}

TEST(Interleave, RingCarriesWholeFramesAcrossTheWrap) {
  constexpr std::size_t kChannels = 2;
  SpscRing<float> ring(16);  // 8 stereo frames
  Planar src(kChannels, 64), dst(kChannels, 64);
  for (std::size_t c = 0; c < kChannels; ++c)
    for (std::size_t f = 0; f < 64; ++f) src.data[c][f] = tag(c, f);

  std::size_t written = 0, read = 0;
  // Odd frame counts push the frame boundary around the storage end.
  for (std::size_t step = 0; read < 64; ++step) {
    std::vector<const float*> in = {src.in[0] + written, src.in[1] + written};
    written += write_planar<float>(ring, in, std::min<std::size_t>(3, 64 - written));
    EXPECT_EQ(ring.read_available() % kChannels, 0u) << "only whole frames in the ring";
    std::vector<float*> out = {dst.out[0] + read, dst.out[1] + read};
    read += read_planar<float>(ring, out, 1 + step % 2);
    ASSERT_LT(step, 1000u);
  }
  EXPECT_EQ(dst.data, src.data);
}

TEST(Interleave, WritesOnlyWholeFramesWhenNearlyFull) {
  constexpr std::size_t kChannels = 3;
  SpscRing<float> ring(8);  // room for 2 frames of 3, plus 2 samples that must stay unused
  Planar src(kChannels, 4);
  for (std::size_t c = 0; c < kChannels; ++c)
    for (std::size_t f = 0; f < 4; ++f) src.data[c][f] = tag(c, f);
  EXPECT_EQ(frames_writable(ring, kChannels), 2u);
  EXPECT_EQ(write_planar<float>(ring, src.in, 4), 2u);
  EXPECT_EQ(ring.read_available(), 6u);
  EXPECT_EQ(frames_readable(ring, kChannels), 2u);
  EXPECT_EQ(write_planar<float>(ring, src.in, 4), 0u) << "2 free samples are not a frame";

  Planar dst(kChannels, 4);
  EXPECT_EQ(read_planar<float>(ring, dst.out, 4), 2u);
  for (std::size_t c = 0; c < kChannels; ++c) {
    EXPECT_EQ(dst.data[c][0], tag(c, 0));
    EXPECT_EQ(dst.data[c][1], tag(c, 1));
    EXPECT_EQ(dst.data[c][2], 0.0f) << "untouched past the frames read";
  }
  EXPECT_EQ(write_planar<float>(ring, std::span<const float* const>(), 4), 0u);
}

TEST(Interleave, FramesSplitByTheStorageEndStayIntact) {
  // Channel counts that do and do not divide the ring size: with 3, 5 or 7 channels in a
  // 16-sample ring, frames regularly straddle the storage end.
  for (std::size_t channels : {1u, 2u, 3u, 4u, 5u, 7u}) {
    SpscRing<float> ring(16);
    const std::size_t max_frames = 16 / channels;
    Planar src(channels, max_frames), dst(channels, max_frames);
    std::size_t next_in = 0, next_out = 0;
    for (std::size_t round = 0; round < 200; ++round) {
      const std::size_t want = 1 + (round * 5) % max_frames;
      for (std::size_t c = 0; c < channels; ++c)
        for (std::size_t f = 0; f < want; ++f) src.data[c][f] = tag(c, next_in + f);
      next_in += write_planar<float>(ring, src.in, want);
      const std::size_t got = read_planar<float>(ring, dst.out, 1 + (round * 3) % max_frames);
      for (std::size_t c = 0; c < channels; ++c)
        for (std::size_t f = 0; f < got; ++f)
          ASSERT_EQ(dst.data[c][f], tag(c, next_out + f))
              << channels << " channels, round " << round << ", channel " << c << ", frame " << f;
      next_out += got;
      ASSERT_EQ(ring.read_available(), (next_in - next_out) * channels);
    }
    EXPECT_GT(next_out, 100u) << channels << " channels";
  }
}

TEST(InterleaveStress, PlanarThroughRingAcrossThreads) {
  constexpr std::size_t kChannels = 2, kBlock = 256;
  const std::uint64_t total_frames = test::stress_samples() / 20;
  SpscRing<float> ring(2048);

  std::thread producer([&] {
    Planar block(kChannels, kBlock);
    test::ChunkSizes sizes(3);
    test::Backoff backoff;
    std::uint64_t next = 0;
    while (next < total_frames) {
      const std::size_t n = std::min<std::uint64_t>(sizes.next(kBlock), total_frames - next);
      for (std::size_t f = 0; f < n; ++f) {
        // Float holds integers exactly up to 2^24; wrap the counter below that.
        block.data[0][f] = static_cast<float>((next + f) % (1u << 24));
        block.data[1][f] = -block.data[0][f];
      }
      std::size_t done = 0;
      while (done < n) {
        std::vector<const float*> in = {block.in[0] + done, block.in[1] + done};
        const std::size_t wrote = write_planar<float>(ring, in, n - done);
        wrote == 0 ? backoff.idle() : backoff.progress();
        done += wrote;
      }
      next += n;
    }
  });

  Planar block(kChannels, kBlock);
  test::ChunkSizes sizes(5);
  test::Backoff backoff;
  std::uint64_t expected = 0, mismatches = 0;
  while (expected < total_frames) {
    const std::size_t got = read_planar<float>(ring, block.out, sizes.next(kBlock));
    got == 0 ? backoff.idle() : backoff.progress();
    for (std::size_t f = 0; f < got; ++f) {
      const float want = static_cast<float>((expected + f) % (1u << 24));
      mismatches += block.data[0][f] != want || block.data[1][f] != -want;
    }
    expected += got;
  }
  producer.join();
  EXPECT_EQ(mismatches, 0u);
  EXPECT_EQ(expected, total_frames);
}

}  // namespace
}  // namespace earshot::rt
