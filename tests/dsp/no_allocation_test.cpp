// The streaming paths allocate nothing after construction: every global operator new made
// while a NoAllocationScope is open on this thread is counted, and the counts must be zero.
#include <gtest/gtest.h>

#include <cstdlib>
#include <new>
#include <vector>

#include "dsp/fft.hpp"
#include "dsp/log_mel.hpp"
#include "dsp/overlap_add.hpp"
#include "dsp/stft.hpp"
#include "dsp/window.hpp"

namespace {
thread_local bool g_counting = false;
thread_local std::size_t g_allocations = 0;
}  // namespace

// Replacements for the plain forms; they forward to malloc/free, which sanitizers intercept.
// noinline: inlined, GCC would pair the malloc inside new with the free inside delete and warn.
[[gnu::noinline]] void* operator new(std::size_t size) {
  if (g_counting) ++g_allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void* operator new[](std::size_t size) {
  return ::operator new(size);
}
[[gnu::noinline]] void operator delete(void* p) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete[](void* p) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}

namespace earshot::dsp {
namespace {

struct NoAllocationScope {
  NoAllocationScope() {
    g_allocations = 0;
    g_counting = true;
  }
  ~NoAllocationScope() { g_counting = false; }
  std::size_t count() const { return g_allocations; }
};

TEST(NoAllocation, CounterWorks) {
  NoAllocationScope scope;
  auto* p = new std::vector<float>(10);
  delete p;
  EXPECT_EQ(scope.count(), 2u);  // the vector object and its storage
}

TEST(NoAllocation, FftStftLogMelAndOverlapAddSteadyState) {
  RealFft fft(4096);
  ComplexFft cfft(400);
  std::vector<float> x(4096, 0.25f), back(4096);
  std::vector<Complex> spectrum(fft.bins()), c_in(400), c_out(400);
  Stft stft({.n_fft = 4096, .hop = 1024, .window = hann_window(4096), .normalized = true}, 44100);
  std::vector<float> audio(44100, 0.1f), rebuilt(44100);
  std::vector<Complex> spec(stft.bins() * stft.frames(audio.size()));
  WhisperLogMel log_mel(80);
  std::vector<float> mel(80 * 3000), frames(80 * WhisperLogMel::frames_for(16000));
  WeightedOverlapAdd ola(2, 1000);
  const auto w = demucs_transition_weight(400);
  std::vector<float> chunk(2 * 400, 1.0f), stitched(2 * 1000);

  NoAllocationScope scope;
  fft.forward(x, spectrum);
  fft.inverse(spectrum, back);
  cfft.forward(c_in, c_out);
  cfft.inverse(c_in, c_out);
  stft.forward(audio, spec);
  stft.inverse(spec, stft.frames(audio.size()), rebuilt);
  log_mel.compute(std::span<const float>(audio).first(16000), mel);
  log_mel.log_mel_frames(std::span<const float>(audio).first(16000), frames);
  WhisperLogMel::normalize(frames);
  ola.reset(1000);
  for (std::size_t off = 0; off < 1000; off += 300)
    ola.add(off, std::min<std::size_t>(400, 1000 - off),
            std::span<const float>(chunk).first(2 * std::min<std::size_t>(400, 1000 - off)), w);
  ola.finish(stitched);
  EXPECT_EQ(scope.count(), 0u);
}

}  // namespace
}  // namespace earshot::dsp
