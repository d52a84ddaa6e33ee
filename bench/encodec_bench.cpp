// EnCodec 24 kHz at full published size (num_filters 32, hidden 128, codebook_dim 128, 32
// codebooks of 1024) with random weights generated in memory. Prints (plain table, no Google
// Benchmark harness, so that every figure the issue asks for comes out of one run):
//   - EncodecModel::decode (24 kHz: streaming decoder in 64-frame blocks) and ::encode (whole
//     clip) of 5 s and 10 s with 1 and 2 threads (rt::ThreadTeam): wall time,
//     process CPU time, best of a few runs; the encodec.cpp scale (2.8 s per 10 s, 2 threads);
//   - single-core read bandwidth (256 MB on 4 KiB and on 2 MiB pages, and cyclic reads of a
//     buffer the size of the decoder's weights), measured in this process;
//   - streaming decode at 1, 2, 4 and 8 frames (13.3 ms of audio each) per push on one core:
//     per-push latency p50/p99/max from thread CPU time and from wall time, real-time factor,
//     and the verdict against the aim (RTF < 0.1 on one core);
//   - per-stage cost of a push at 1 and 2 frames per push (StreamingProfile): thread CPU time,
//     weight bytes read, GB/s achieved against the bandwidth above, and the bandwidth floor;
//   - peak memory of the flat paths (block encode, streaming decode) for 10 s and 60 s: process
//     VmHWM (reset through /proc/self/clear_refs before each run) and the budget's peak;
//   - a machine reference: the gemm's GFLOP/s on 512^3 in the same process;
//   - the register-tiled kernel (tiled_gemm.hpp) on the decoder's later-stage shapes at one frame
//     per push: GFLOP/s against that gemm (section "kernels");
//   - the streaming table again with the opt-in F16 storage of the weight-streaming layers
//     (section "f16", last: it converts the model in place).
// --quick: one run of each; --only=kernels,offline,stream,memory,f16 picks sections.
// The machine is shared: compare ratios and CPU times, and note the load average printed.
#include <benchmark/benchmark.h>

#include "models/core/tiled_gemm.hpp"
#include "models/encodec/block_encoder.hpp"
#include "models/encodec/encodec_model.hpp"
#include "models/encodec/gemm.hpp"
#include "models/encodec/parameter_list.hpp"
#include "models/encodec/streaming_decoder.hpp"
#include "rt/huge_pages.hpp"
#include "rt/thread_team.hpp"

#include <nlohmann/json.hpp>

#ifdef __AVX512F__
#include <immintrin.h>
#endif
#include <malloc.h>
#include <time.h>
#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>

namespace {

using namespace earshot;
using namespace earshot::encodec;
using models::pack_tiled_weights;
using models::tiled_gemm;

constexpr int kRate = 24000;
constexpr int kHop = 320;
constexpr int kNq = 8;  // 6 kbps

// Random weights in the published layout, written to a temporary safetensors file: conv
// directions N(0, 1/fan_in) with g = |v| (unit gain), LSTM U(+-1/sqrt(H)), codebooks N(0, 0.1).
std::filesystem::path write_random_checkpoint(const EncodecConfig& config) {
  std::mt19937 rng(7);
  nlohmann::json header = nlohmann::json::object();
  std::vector<float> data;
  for (const auto& p : encodec_parameter_shapes(config)) {
    std::int64_t n = 1;
    for (auto d : p.shape) n *= d;
    const std::size_t begin = data.size();
    data.resize(begin + static_cast<std::size_t>(n));
    float* v = data.data() + begin;
    const auto& name = p.name;
    auto ends = [&](const char* s) {
      return name.size() >= std::strlen(s) &&
             name.compare(name.size() - std::strlen(s), std::string::npos, s) == 0;
    };
    if (ends("weight_v")) {
      const double fan_in = static_cast<double>(n) / p.shape[0];
      std::normal_distribution<float> dist(0.0f, static_cast<float>(1.0 / std::sqrt(fan_in)));
      for (std::int64_t i = 0; i < n; ++i) v[i] = dist(rng);
    } else if (ends("weight_g")) {
      // g = |v| of the weight_v written just before... order is g then v in the list, so use
      // the expected norm sqrt(fan_in * 1/fan_in) = 1.
      for (std::int64_t i = 0; i < n; ++i) v[i] = 1.0f;
    } else if (name.find(".lstm.weight") != std::string::npos) {
      const float bound = static_cast<float>(1.0 / std::sqrt(static_cast<double>(p.shape[1])));
      std::uniform_real_distribution<float> dist(-bound, bound);
      for (std::int64_t i = 0; i < n; ++i) v[i] = dist(rng);
    } else if (ends("embed") || ends("embed_avg")) {
      std::normal_distribution<float> dist(0.0f, 0.1f);
      for (std::int64_t i = 0; i < n; ++i) v[i] = dist(rng);
    } else if (ends("cluster_size") || ends("inited")) {
      std::fill(v, v + n, 1.0f);
    }  // biases stay 0
    header[name] = {
        {"dtype", "F32"}, {"shape", p.shape}, {"data_offsets", {begin * 4, data.size() * 4}}};
  }
  const auto path = std::filesystem::temp_directory_path() /
                    ("earshot_encodec_bench_" + std::to_string(getpid()) + ".safetensors");
  const std::string h = header.dump();
  const std::uint64_t len = h.size();
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(&len), 8);
  out.write(h.data(), static_cast<std::streamsize>(h.size()));
  out.write(reinterpret_cast<const char*>(data.data()),
            static_cast<std::streamsize>(data.size() * 4));
  return path;
}

double now_s(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double peak_rss_mb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

double rss_mb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

// Resets VmHWM to the current RSS (Linux >= 4.0), so the next reading is this run's peak.
void reset_peak_rss() {
  malloc_trim(0);
  std::ofstream("/proc/self/clear_refs") << "5";
}

std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string line;
  std::getline(in, line);
  return line;
}

std::vector<float> make_audio(std::int64_t samples) {
  std::mt19937 rng(3);
  std::normal_distribution<float> noise(0.0f, 0.02f);
  std::vector<float> audio(static_cast<std::size_t>(samples));
  for (std::int64_t t = 0; t < samples; ++t) {
    audio[t] = 0.3f * std::sin(2.0f * 3.14159265f * 220.0f * static_cast<float>(t % kRate) /
                               static_cast<float>(kRate)) +
               noise(rng);
  }
  return audio;
}

// Code values do not change the decoder's work: random valid codes, [kNq, frames].
std::vector<std::int32_t> make_codes(std::int64_t frames) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> code(0, 1023);
  std::vector<std::int32_t> codes(static_cast<std::size_t>(frames * kNq));
  for (auto& c : codes) c = code(rng);
  return codes;
}

struct Timing {
  double wall = 1e30;
  double cpu = 1e30;  // process CPU time (all threads)
};

template <typename F>
Timing best_of(int runs, F&& f) {
  Timing best;
  for (int r = 0; r < runs; ++r) {
    const double w0 = now_s(CLOCK_MONOTONIC);
    const double c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
    f();
    best.wall = std::min(best.wall, now_s(CLOCK_MONOTONIC) - w0);
    best.cpu = std::min(best.cpu, now_s(CLOCK_PROCESS_CPUTIME_ID) - c0);
  }
  return best;
}

double gemm_gflops() {
  const std::int64_t n = 512;
  std::vector<float> a(n * n, 0.5f), b(n * n, 0.25f), c(n * n);
  const auto t = best_of(
      5, [&] { encodec::gemm(n, n, n, a.data(), n, b.data(), n, false, c.data(), n, false); });
  return 2.0 * n * n * n / t.cpu * 1e-9;
}

// Single-core read bandwidth: sums a buffer of `bytes` `reps` times (after one warm-up pass),
// thread CPU time, every float loaded (AVX-512 where built for it). `huge`: the buffer is on
// 2 MiB pages like the model's weights (rt/huge_pages.hpp). Cyclic reads of a buffer smaller than
// the L3 partly hit it.
double read_bandwidth_gbs(std::size_t bytes, int reps, bool huge) {
  constexpr std::size_t kAlign = std::size_t{2} << 20;
  const std::size_t n = bytes / sizeof(float) / 64 * 64;
  const std::size_t alloc = (n * sizeof(float) + kAlign - 1) / kAlign * kAlign;
  float* buf = static_cast<float*>(std::aligned_alloc(kAlign, alloc));
  if (huge) rt::advise_huge_pages(buf, alloc);  // before the first touch: 2 MiB pages
  std::fill(buf, buf + n, 1.0f);
  auto pass = [&] {
#ifdef __AVX512F__
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (std::size_t i = 0; i < n; i += 64) {
      s0 = _mm512_add_ps(s0, _mm512_load_ps(buf + i));
      s1 = _mm512_add_ps(s1, _mm512_load_ps(buf + i + 16));
      s2 = _mm512_add_ps(s2, _mm512_load_ps(buf + i + 32));
      s3 = _mm512_add_ps(s3, _mm512_load_ps(buf + i + 48));
    }
    float out[16];
    _mm512_storeu_ps(out, _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
    benchmark::DoNotOptimize(out[0]);
#else
    float s = 0;
    for (std::size_t i = 0; i < n; ++i) s += buf[i];
    benchmark::DoNotOptimize(s);
#endif
    benchmark::ClobberMemory();
  };
  pass();
  const double c0 = now_s(CLOCK_THREAD_CPUTIME_ID);
  for (int r = 0; r < reps; ++r) pass();
  const double t = now_s(CLOCK_THREAD_CPUTIME_ID) - c0;
  std::free(buf);
  return static_cast<double>(n) * sizeof(float) * reps / t * 1e-9;
}

// Bytes of the decoder's weight matrices on 2 MiB pages (the budget advises reservations of
// 2 MiB and more as huge pages; rt/huge_pages.hpp).
std::size_t decoder_huge_page_bytes(const SeanetDecoder& dec) {
  std::size_t bytes = 0;
  auto block = [&](const void* data, std::size_t size) {
    // (Clamped: the count comes from the mapping's pages, which may extend past the tensor.)
    if (data != nullptr) bytes += std::min(rt::huge_page_bytes_in(data, size), size);
  };
  auto count = [&](const models::Tensor& t) {
    if (!t.empty()) block(t.data(), t.bytes());
  };
  auto count_half = [&](const HalfWeights& h) {
    if (!h.empty()) block(h.storage.data(), h.storage.bytes());
  };
  count(dec.first.weight);
  count_half(dec.first.weight_f16);
  for (const auto& w : dec.lstm.w_ih) count(w);
  for (const auto& w : dec.lstm.w_hh) count(w);
  for (const auto& w : dec.lstm.w_ih_f16) count_half(w);
  for (const auto& w : dec.lstm.w_hh_f16) count_half(w);
  for (const auto& stage : dec.stages) {
    count(stage.up.weight);
    count_half(stage.up.weight_f16);
    for (const auto& b : stage.blocks) {
      count(b.conv1.weight);
      count(b.conv2.weight);
      count(b.shortcut.weight);
    }
  }
  count(dec.last.weight);
  return bytes;
}

}  // namespace

int main(int argc, char** argv) {
  // --quick: one run of each; --only=kernels,offline,stream,memory,f16: those sections.
  bool quick = false;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") quick = true;
    if (a.rfind("--only=", 0) == 0) only = a.substr(7);
  }
  // --only=a,b: those sections.
  auto section = [&](const std::string& name) {
    return only.empty() || ("," + only + ",").find("," + name + ",") != std::string::npos;
  };
  const int runs = quick ? 1 : 3;
  std::printf("EnCodec 24 kHz, full size, random weights; %d codebooks (6 kbps); best of %d\n", kNq,
              runs);
  std::printf("load average at start: %s\n", loadavg().c_str());
  std::printf("machine reference: gemm 512^3 on one thread %.1f GFLOP/s\n", gemm_gflops());

  // ---- the register-tiled kernel on the decoder's later-stage shapes (one frame per push) ----
  if (section("kernels")) {
    struct Shape {
      const char* what;
      std::int64_t M, N, K;
    };
    // Rows per frame at each stage: 8 after the first transposed conv, then x5, x4, x2.
    const Shape shapes[] = {
        {"tconv k10 256->128 (phase)", 8, 640, 512},
        {"res256 conv k3", 8, 128, 768},
        {"res256 conv k1 / shortcut", 8, 256, 256},
        {"tconv k8 128->64 (phase)", 40, 256, 256},
        {"res128 conv k3", 40, 64, 384},
        {"res128 shortcut", 40, 128, 128},
        {"tconv k4 64->32 (phase)", 160, 64, 128},
        {"res64 conv k3", 160, 32, 192},
        {"res64 shortcut", 160, 64, 64},
        {"res32 conv k3", 320, 16, 96},
        {"res32 conv k1", 320, 32, 16},
        {"res32 shortcut", 320, 32, 32},
    };
    std::printf("%-28s %5s %5s %5s %10s %12s\n", "tiled_gemm (1 thread)", "M", "N", "K", "GFLOP/s",
                "% of gemm");
    const double peak = gemm_gflops();
    std::mt19937 rng(9);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (const auto& sh : shapes) {
      std::vector<float> x(static_cast<std::size_t>(sh.M * sh.K)), w(sh.K * sh.N), b(sh.N),
          y(sh.M * sh.N);
      for (auto* v : {&x, &w, &b}) {
        for (auto& e : *v) e = dist(rng);
      }
      const int reps =
          static_cast<int>(std::max<std::int64_t>(1, 200000000 / (sh.M * sh.N * sh.K)));
      std::vector<float> packed(w.size());
      pack_tiled_weights(sh.K, sh.N, w.data(), sh.N, packed.data());
      const auto t = best_of(3, [&] {
        for (int r = 0; r < reps; ++r) {
          tiled_gemm(sh.M, sh.N, sh.K, x.data(), sh.K, packed.data(), b.data(), y.data(), sh.N,
                     false);
          benchmark::DoNotOptimize(y.data());
        }
      });
      const double gf = 2.0 * sh.M * sh.N * sh.K * reps / t.cpu * 1e-9;
      std::printf("%-28s %5lld %5lld %5lld %10.1f %11.0f%%\n", sh.what,
                  static_cast<long long>(sh.M), static_cast<long long>(sh.N),
                  static_cast<long long>(sh.K), gf, 100.0 * gf / peak);
    }
    std::printf("(gemm 512^3 in this section: %.1f GFLOP/s; load average: %s)\n\n", peak,
                loadavg().c_str());
  }

  rt::MemoryBudget budget{512u << 20};
  const auto config = EncodecConfig::published_24khz();
  EncodecModel model;
  {
    const auto path = write_random_checkpoint(config);
    const auto file = models::SafetensorsFile::open(path);
    model = EncodecModel::load(config, file, budget);
    std::filesystem::remove(path);
  }
  const double weights_mb = static_cast<double>(budget.peak()) / (1 << 20);
  std::printf("weights %.1f MB (budget); decoder weights on 2 MiB pages: %.1f MB\n\n", weights_mb,
              static_cast<double>(decoder_huge_page_bytes(model.decoder())) / (1 << 20));
  rt::ThreadTeam team(2);

  // ---- offline decode / encode ----
  if (section("offline")) {
    std::printf("%-28s %8s %10s %10s %8s %14s\n", "EncodecModel encode/decode", "threads", "wall s",
                "cpu s", "RTF", "vs encodec.cpp");
    for (int seconds : {5, 10}) {
      const std::int64_t frames = seconds * 75;
      EncodedAudio encoded;
      encoded.n_q = kNq;
      encoded.audio_length = frames * kHop;
      encoded.chunks.push_back(CodeChunk{frames, make_codes(frames), 1.0f});
      const auto audio = make_audio(frames * kHop);
      for (int threads : {1, 2}) {
        rt::Parallel* par = threads == 2 ? &team : nullptr;
        const auto d = best_of(runs, [&] {
          auto out = model.decode(encoded, par);
          benchmark::DoNotOptimize(out.data());
        });
        const auto e = best_of(runs, [&] {
          auto codes = model.encode(audio.data(), frames * kHop, kNq, par);
          benchmark::DoNotOptimize(codes.chunks.data());
        });
        // encodec.cpp on this machine: about 2.8 s per 10 s of audio, each way, 2 threads.
        const double ref = 2.8 * seconds / 10.0;
        std::printf("decode %2d s %17s %8d %10.3f %10.3f %8.3f %13.1fx\n", seconds, "", threads,
                    d.wall, d.cpu, d.wall / seconds, ref / d.wall);
        std::printf("encode %2d s %17s %8d %10.3f %10.3f %8.3f %13.1fx\n", seconds, "", threads,
                    e.wall, e.cpu, e.wall / seconds, ref / e.wall);
      }
    }
    std::printf("load average: %s\n\n", loadavg().c_str());
  }

  // ---- streaming decode on one core: per-push latency and RTF for several push sizes ----
  auto stream_section = [&](const char* mode) {
    std::printf("=== streaming decode, %s ===\n", mode);
    const std::int64_t frames = 10 * 75;
    const auto codes = make_codes(frames);  // used frame-major here: any valid codes do
    // The decoder reads all its weights once per push (and the LSTM's recurrent weights once per
    // frame): at a few frames per push it is bound by memory bandwidth, so measure that here,
    // in the same process, on the same core: a streaming read of 256 MB (DRAM) and cyclic reads
    // of a buffer the size of the decoder's weights (what a push re-reads; partly L3 hits).
    const auto& dec = model.decoder();
    std::int64_t decoder_bytes = 0;
    {
      StreamingDecoder probe(model, budget, kNq, 1);
      StreamingProfile prof;
      probe.enable_profile(&prof);
      for (const auto& st : prof.stages) decoder_bytes += st.push_bytes + st.frame_bytes;
    }
    (void)dec;
    // Measure on the kind of pages the weights use.
    const bool huge = decoder_huge_page_bytes(model.decoder()) > 0;
    const double bw_dram_4k = read_bandwidth_gbs(256ull << 20, 2, false);
    const double bw_dram = read_bandwidth_gbs(256ull << 20, 2, true);
    const double bw_set = read_bandwidth_gbs(static_cast<std::size_t>(decoder_bytes), 16, huge);
    std::printf(
        "single-core read bandwidth (thread CPU time): 256 MB stream %.1f GB/s on 4 KiB "
        "pages, %.1f GB/s on 2 MiB pages; %.1f MB cyclic (= decoder weights, %s pages) "
        "%.1f GB/s\n",
        bw_dram_4k, bw_dram, decoder_bytes / 1e6, huge ? "2 MiB" : "4 KiB", bw_set);
    std::printf(
        "=> reading every decoder weight once takes >= %.3f ms (%.1f MB at %.1f GB/s); "
        "a frame is 13.333 ms, RTF 0.1 allows 1.333 ms per frame\n\n",
        decoder_bytes / bw_set * 1e-6, decoder_bytes / 1e6, bw_set);
    std::printf("streaming decode on one core (thread CPU time; wall in brackets), %d x 10 s\n",
                runs);
    std::printf("%-16s %10s %10s %10s %8s %22s  %s\n", "frames per push", "p50 ms", "p99 ms",
                "max ms", "RTF", "wall p50 / p99 ms", "aim RTF < 0.1");
    int smallest_meeting = 0;
    for (int per_push : {1, 2, 4, 8}) {
      StreamingDecoder stream(model, budget, kNq, per_push);
      std::vector<float> out(static_cast<std::size_t>(stream.max_output_samples()));
      std::vector<double> cpu_ms, wall_ms;
      double cpu_total = 0;
      for (int r = 0; r < runs; ++r) {
        stream.reset();
        for (std::int64_t f = 0; f < frames; f += per_push) {
          const double w0 = now_s(CLOCK_MONOTONIC);
          const double c0 = now_s(CLOCK_THREAD_CPUTIME_ID);
          benchmark::DoNotOptimize(stream.push(
              codes.data() + f * kNq, std::min<std::int64_t>(per_push, frames - f), out.data()));
          const double c = (now_s(CLOCK_THREAD_CPUTIME_ID) - c0) * 1e3;
          wall_ms.push_back((now_s(CLOCK_MONOTONIC) - w0) * 1e3);
          cpu_ms.push_back(c);
          cpu_total += c;
        }
        benchmark::DoNotOptimize(stream.finish(out.data()));
      }
      std::sort(cpu_ms.begin(), cpu_ms.end());
      std::sort(wall_ms.begin(), wall_ms.end());
      auto pct = [](const std::vector<double>& v, double p) {
        return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
      };
      const double rtf = cpu_total / (runs * 10.0 * 1000.0);
      if (rtf < 0.1 && smallest_meeting == 0) smallest_meeting = per_push;
      std::printf("%-16d %10.3f %10.3f %10.3f %8.4f %10.3f / %9.3f  %s (%.3f ms per frame)\n",
                  per_push, pct(cpu_ms, 0.5), pct(cpu_ms, 0.99), cpu_ms.back(), rtf,
                  pct(wall_ms, 0.5), pct(wall_ms, 0.99), rtf < 0.1 ? "met" : "NOT met",
                  cpu_total / (runs * static_cast<double>(frames)));
    }
    if (smallest_meeting > 0) {
      std::printf("verdict: RTF < 0.1 on one core from %d frame(s) per push (%.1f ms of audio)\n",
                  smallest_meeting, smallest_meeting * 13.333);
    } else {
      std::printf("verdict: RTF < 0.1 on one core NOT met at 1..8 frames per push\n");
    }
    std::printf("(one frame = 13.33 ms of audio; start delay 6 frames; load average: %s)\n\n",
                loadavg().c_str());

    // Per-stage breakdown: where a push's time goes, against the bandwidth measured above.
    for (int per_push : {1, 2}) {
      StreamingDecoder stream(model, budget, kNq, per_push);
      std::vector<float> out(static_cast<std::size_t>(stream.max_output_samples()));
      StreamingProfile prof;
      stream.enable_profile(&prof);
      for (int r = 0; r < runs; ++r) {
        stream.reset();
        for (std::int64_t f = 0; f < frames; f += per_push) {
          benchmark::DoNotOptimize(stream.push(
              codes.data() + f * kNq, std::min<std::int64_t>(per_push, frames - f), out.data()));
        }
        benchmark::DoNotOptimize(stream.finish(out.data()));
      }
      const double nf = static_cast<double>(prof.frames);
      std::printf(
          "per-stage cost at %d frame(s) per push (thread CPU time per frame; weight "
          "bytes read per frame; GB/s achieved; %% of the %.1f GB/s cyclic read)\n",
          per_push, bw_set);
      std::printf("%-30s %10s %10s %10s %8s\n", "stage", "ms/frame", "MB/frame", "GB/s", "% bw");
      double total_s = 0, total_b = 0;
      for (const auto& st : prof.stages) {
        const double bytes = static_cast<double>(st.push_bytes) * prof.pushes +
                             static_cast<double>(st.frame_bytes) * nf;
        total_s += st.cpu_s;
        total_b += bytes;
        const double gbs = bytes / st.cpu_s * 1e-9;
        std::printf("%-30s %10.4f %10.3f %10.1f %7.0f%%\n", st.name.c_str(), st.cpu_s / nf * 1e3,
                    bytes / nf / 1e6, gbs, 100.0 * gbs / bw_set);
      }
      const double gbs = total_b / total_s * 1e-9;
      std::printf("%-30s %10.4f %10.3f %10.1f %7.0f%%  (bandwidth floor %.3f ms/frame)\n\n",
                  "total", total_s / nf * 1e3, total_b / nf / 1e6, gbs, 100.0 * gbs / bw_set,
                  total_b / nf / bw_set * 1e-6);
    }
    std::printf(
        "bandwidth again after the streaming runs: 256 MB (2 MiB pages) %.1f GB/s, %.1f MB cyclic "
        "%.1f GB/s; load average: %s\n\n",
        read_bandwidth_gbs(256ull << 20, 2, true), decoder_bytes / 1e6,
        read_bandwidth_gbs(static_cast<std::size_t>(decoder_bytes), 16, huge), loadavg().c_str());
  };
  if (section("stream")) stream_section("float weights (default)");

  // ---- flat memory: block encode and streaming decode of 10 s and 60 s ----
  // Audio and codes are generated block by block, so nothing in the process grows with the
  // stream except the codes the block encoder returns (8 x 4 bytes per frame).
  if (section("memory")) {
    malloc_trim(0);
    const double rss_before = rss_mb();
    std::printf("%-44s %10s %12s %12s %10s\n", "flat paths (2 threads, blocks of 0.1 s)", "wall s",
                "peak RSS MB", "budget pk MB", "RTF");
    for (int seconds : {10, 60}) {
      const std::int64_t samples = static_cast<std::int64_t>(seconds) * kRate;
      {
        reset_peak_rss();
        const double w0 = now_s(CLOCK_MONOTONIC);
        BlockEncoder enc(model, budget, kNq, 2400, &team);
        std::mt19937 rng(3);
        std::normal_distribution<float> noise(0.0f, 0.02f);
        std::vector<float> block(2400);
        for (std::int64_t t = 0; t < samples; t += 2400) {
          for (std::int64_t i = 0; i < 2400; ++i) {
            block[i] = 0.3f * std::sin(2.0f * 3.14159265f * 220.0f *
                                       static_cast<float>((t + i) % kRate) / kRate) +
                       noise(rng);
          }
          enc.push(block.data(), 2400);
        }
        const auto encoded = enc.finish();
        const double wall = now_s(CLOCK_MONOTONIC) - w0;
        std::printf("block encode %2d s (%lld frames)%*s %10.3f %12.1f %12.1f %10.3f\n", seconds,
                    static_cast<long long>(encoded.chunks[0].frames), 12, "", wall, peak_rss_mb(),
                    static_cast<double>(budget.peak()) / (1 << 20), wall / seconds);
      }
      {
        reset_peak_rss();
        const double w0 = now_s(CLOCK_MONOTONIC);
        StreamingDecoder dec(model, budget, kNq, 8, &team);
        std::vector<float> out(static_cast<std::size_t>(dec.max_output_samples()));
        std::mt19937 rng(5);
        std::uniform_int_distribution<int> code(0, 1023);
        std::vector<std::int32_t> block(8 * kNq);
        double sink = 0;
        for (std::int64_t f = 0; f < seconds * 75; f += 8) {
          for (auto& c : block) c = code(rng);
          const auto n =
              dec.push(block.data(), std::min<std::int64_t>(8, seconds * 75 - f), out.data());
          if (n > 0) sink += out[0];
        }
        dec.finish(out.data());
        benchmark::DoNotOptimize(sink);
        const double wall = now_s(CLOCK_MONOTONIC) - w0;
        std::printf("streaming decode %2d s (8 frames per push)%*s %10.3f %12.1f %12.1f %10.3f\n",
                    seconds, 5, "", wall, peak_rss_mb(),
                    static_cast<double>(budget.peak()) / (1 << 20), wall / seconds);
      }
    }
    {
      // For contrast: the whole-clip encoder holds every layer's activations at once.
      const auto audio = make_audio(10 * kRate);
      reset_peak_rss();
      const auto encoded = model.encode(audio.data(), 10 * kRate, kNq, &team);
      benchmark::DoNotOptimize(encoded.chunks.data());
      std::printf("whole-clip EncodecModel::encode 10 s (contrast) %10s %12.1f\n", "",
                  peak_rss_mb());
    }
    std::printf(
        "(peak RSS = process VmHWM during the run: %.1f MB of weights, the stream state, the "
        "binary; RSS before these runs %.1f MB; budget peak is cumulative over the process)\n",
        weights_mb, rss_before);
  }
  // ---- the same with the opt-in F16 storage of the weight-streaming layers (last: it converts
  // the model in place) ----
  if (section("f16")) {
    model.store_decoder_weights_f16(budget);
    stream_section(
        "F16 storage of the weight-streaming layers (opt-in, float compute; "
        "EncodecModel::store_decoder_weights_f16)");
  }
  std::printf("load average at end: %s\n", loadavg().c_str());
  return 0;
}
