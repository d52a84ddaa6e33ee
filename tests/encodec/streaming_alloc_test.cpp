// The streaming decoder does nothing forbidden on a real-time thread while frames are pushed:
// the project's audio-thread guard (earshot_rt_guard: malloc family, operator new/delete,
// pthread_mutex_lock; sanitizer hooks under ASan) watches every push and the final flush.
#include "models/encodec/streaming_decoder.hpp"
#include "rt/audio_thread_guard.hpp"
#include "tests/encodec/fixture_util.hpp"

#include <gtest/gtest.h>

namespace earshot::encodec::test {
namespace {

void push_and_finish_on_an_audio_thread(bool f16_weights) {
  rt::MemoryBudget budget{256u << 20};
  auto model = EncodecModel::load(model_dir("24khz-random"), budget);
  if (f16_weights) model.store_decoder_weights_f16(budget);
  const auto ref = reference("24khz-random");
  const auto codes = ref.load_i32("codes_6kbps");  // [8, 313]
  std::vector<std::int32_t> frame_major(313 * 8);
  for (int f = 0; f < 313; ++f) {
    for (int q = 0; q < 8; ++q) frame_major[f * 8 + q] = codes[q * 313 + f];
  }
  StreamingDecoder stream(model, budget, 8, 5);
  std::vector<float> out(static_cast<std::size_t>(stream.max_output_samples()));
  std::int64_t samples = 0;
  ASSERT_TRUE(rt::guard::installed());
  rt::guard::reset();
  {
    rt::AudioThreadScope scope;
    for (int f = 0; f < 313;) {
      const int take = std::min(1 + (f % 5), 313 - f);  // pushes of 1..5 frames
      samples += stream.push(frame_major.data() + f * 8, take, out.data());
      f += take;
    }
    samples += stream.finish(out.data());
    stream.reset();
    samples += stream.push(frame_major.data(), 5, out.data());
  }
  EXPECT_EQ(rt::guard::violations(), 0u) << rt::guard::first_violation_or_none();
  EXPECT_EQ(samples, 313 * 320);
}

TEST(StreamingAllocation, PushAndFinishNeitherAllocateNorLock) {
  push_and_finish_on_an_audio_thread(false);
}

TEST(StreamingAllocation, AlsoWithF16Weights) {
  push_and_finish_on_an_audio_thread(true);
}

}  // namespace
}  // namespace earshot::encodec::test
