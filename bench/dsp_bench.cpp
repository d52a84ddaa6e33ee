// DSP microbenchmarks: the FFT sizes the models use, Whisper's 30 s log-mel, and the HTDemucs
// STFT of one 7.8 s stereo segment.
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <vector>

#include "dsp/fft.hpp"
#include "dsp/log_mel.hpp"
#include "dsp/stft.hpp"
#include "dsp/window.hpp"

namespace {

using namespace earshot::dsp;

std::vector<float> noise(std::size_t n) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-0.5f, 0.5f);
  std::vector<float> x(n);
  for (auto& v : x) v = dist(rng);
  return x;
}

void BM_RealFftForward(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  RealFft fft(n);
  const auto x = noise(n);
  std::vector<Complex> y(fft.bins());
  for (auto _ : state) {
    fft.forward(x, y);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RealFftForward)->Arg(400)->Arg(4096);

void BM_RealFftInverse(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  RealFft fft(n);
  std::vector<Complex> y(fft.bins());
  fft.forward(noise(n), y);
  std::vector<float> x(n);
  for (auto _ : state) {
    fft.inverse(y, x);
    benchmark::DoNotOptimize(x.data());
  }
}
BENCHMARK(BM_RealFftInverse)->Arg(400)->Arg(4096);

void BM_WhisperLogMel30s(benchmark::State& state) {
  const auto n_mels = static_cast<std::size_t>(state.range(0));
  WhisperLogMel log_mel(n_mels);
  const auto audio = noise(WhisperAudio::kChunkSamples);
  std::vector<float> mel(n_mels * WhisperAudio::kChunkFrames);
  for (auto _ : state) {
    log_mel.compute(audio, mel);
    benchmark::DoNotOptimize(mel.data());
  }
}
BENCHMARK(BM_WhisperLogMel30s)->Arg(80)->Arg(128)->Unit(benchmark::kMillisecond);

// HTDemucs: 7.8 s at 44.1 kHz, two channels, nfft 4096 hop 1024, normalized Hann.
void BM_DemucsStftStereo(benchmark::State& state) {
  const std::size_t samples = 343980;
  Stft stft({.n_fft = 4096, .hop = 1024, .window = hann_window(4096), .normalized = true}, samples);
  const auto left = noise(samples);
  const auto right = noise(samples);
  std::vector<Complex> spec(stft.bins() * stft.frames(samples));
  for (auto _ : state) {
    stft.forward(left, spec);
    benchmark::DoNotOptimize(spec.data());
    stft.forward(right, spec);
    benchmark::DoNotOptimize(spec.data());
  }
}
BENCHMARK(BM_DemucsStftStereo)->Unit(benchmark::kMillisecond);

void BM_DemucsIstftStereo(benchmark::State& state) {
  const std::size_t samples = 343980;
  Stft stft({.n_fft = 4096, .hop = 1024, .window = hann_window(4096), .normalized = true}, samples);
  const std::size_t frames = stft.frames(samples);
  std::vector<Complex> spec(stft.bins() * frames);
  stft.forward(noise(samples), spec);
  std::vector<float> out(samples);
  for (auto _ : state) {
    for (int channel = 0; channel < 2; ++channel) {
      stft.inverse(spec, frames, out);
      benchmark::DoNotOptimize(out.data());
    }
  }
}
BENCHMARK(BM_DemucsIstftStereo)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
