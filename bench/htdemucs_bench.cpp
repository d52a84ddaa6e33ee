// Full-size HTDemucs (channels 48, bottom_channels 512, segment 39/5 s = 343980 samples, the
// pretrained htdemucs architecture, ~42M parameters) with random weights built in memory.
//
// Reports, for one 7.8 s segment (issue 4, "Speed and memory"):
//  - the FLOP count per stage (2 x multiply-adds of every conv, transposed conv and matrix
//    product) and the floor it implies at the sgemm peak;
//  - the single-thread sgemm peak (Eigen's kernel on a 1024^3 product, the same kernel the
//    model uses), measured in this process between the model runs, in thread CPU time;
//  - one thread: thread CPU seconds per segment and per stage, GFLOP/s and % of that peak;
//  - N threads (an rt::ThreadTeam): wall seconds and process CPU seconds per segment, the
//    real-time factor, and whether live separation (overlap 0.25: one segment per 0.75
//    segment of audio) keeps up;
//  - per U-Net level: its bound (FLOPs at the sgemm peak + its GELU and GLU evaluations at their
//    in-cache cost measured here), the best % of peak that allows and its share of the segment;
//    the steps inside every level ("+step" probe taps);
//  - for a team: per-stage process CPU next to 1 thread's, and where the team's CPU time goes
//    (shares on the caller / the other threads, caller waiting, serial code, spin/wake);
//  - peak RSS of a fresh process that builds the model and separates one segment
//    (VmHWM; this binary re-runs itself with --rss-child), next to the budget;
//  - the PyTorch CPU reference of the issue (16-18 CPU-seconds, 1.5 GB peak RSS per segment on
//    the 2-core machine), the speed-up against it and the verdict on the 3x aim.
// The machine may be shared: ratios within one run (stage GFLOP/s / sgemm peak, both thread
// CPU time) are the robust numbers; the load average is printed before and after.
//
//   earshot_htdemucs_bench [--threads 1,2] [--iterations 2]
#include "models/core/half.hpp"
#include "models/core/safetensors.hpp"
#include "models/core/tiled_gemm.hpp"
#include "models/htdemucs/htdemucs.hpp"
#include "models/htdemucs/ops.hpp"
#include "rt/memory_budget.hpp"
#include "rt/thread_team.hpp"

#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace earshot;
using namespace earshot::htdemucs;

HTDemucsConfig full_size_config() {
  HTDemucsConfig c;  // defaults are htdemucs' except what the mmi grid overrides
  c.sources = {"drums", "bass", "other", "vocals"};
  c.segment_num = 39;
  c.segment_den = 5;
  c.channels = 48;
  c.bottom_channels = 512;
  c.dconv_mode = 3;
  c.depth = 4;
  c.t_layers = 5;
  return c;
}

// A safetensors image (F16, like the released checkpoints) of random weights scaled
// 1/sqrt(fan_in), norms at identity, LayerScales small: activations stay in a sane range.
std::vector<std::byte> random_weights(const HTDemucsConfig& c, std::size_t& params) {
  std::mt19937 rng(42);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  nlohmann::json header = nlohmann::json::object();
  std::vector<std::uint16_t> data;
  params = 0;
  for (const auto& spec : HTDemucsWeights::expected_tensors(c)) {
    std::size_t n = 1;
    for (auto d : spec.shape) n *= static_cast<std::size_t>(d);
    const std::size_t fan_in =
        spec.shape.size() > 1 ? n / static_cast<std::size_t>(spec.shape[0]) : 1;
    const bool is_norm_weight = spec.shape.size() == 1 &&
                                spec.name.find("norm") != std::string::npos &&
                                spec.name.ends_with(".weight");
    const bool is_scale = spec.name.ends_with(".scale");
    const bool is_dconv_norm =
        spec.shape.size() == 1 && spec.name.find("dconv") != std::string::npos &&
        (spec.name.ends_with(".1.weight") || spec.name.ends_with(".4.weight"));
    header[spec.name] = {{"dtype", "F16"},
                         {"shape", spec.shape},
                         {"data_offsets", {data.size() * 2, (data.size() + n) * 2}}};
    for (std::size_t i = 0; i < n; ++i) {
      float v;
      if (is_norm_weight || is_dconv_norm)
        v = 1.0f;
      else if (is_scale)
        v = 0.1f;
      else if (spec.shape.size() == 1)
        v = 0.0f;
      else
        v = normal(rng) / std::sqrt(static_cast<float>(fan_in));
      data.push_back(models::f32_to_f16(v));
    }
    params += n;
  }
  const std::string text = header.dump();
  std::vector<std::byte> image(8 + text.size() + data.size() * 2);
  const std::uint64_t len = text.size();
  std::memcpy(image.data(), &len, 8);
  std::memcpy(image.data() + 8, text.data(), text.size());
  std::memcpy(image.data() + 8 + text.size(), data.data(), data.size() * 2);
  return image;
}

double clock_s(clockid_t id) {
  timespec t{};
  clock_gettime(id, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}
double thread_cpu() {
  return clock_s(CLOCK_THREAD_CPUTIME_ID);
}
double process_cpu() {
  return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}
double wall() {
  return clock_s(CLOCK_MONOTONIC);
}

std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

// VmHWM (peak resident set) of this process, MiB.
double peak_rss_mib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0.0;
}

// Best of a few 1024^3 products through the model's gemm() (packing into a GemmWorkspace, as
// forward() does), in thread CPU time.
class SgemmPeak {
 public:
  SgemmPeak() : a_(kN * kN, 0.5f), b_(a_.size(), 0.25f), c_(a_.size()), ws_mem_(floats()) {}
  double measure(int reps = 3) {
    GemmWorkspace ws(aligned());
    GemmWorkspace::Scope scope(ws);
    for (int r = 0; r < reps; ++r) {
      const double t0 = thread_cpu();
      gemm(false, false, kN, kN, kN, a_.data(), kN, b_.data(), kN, c_.data(), kN, 0.0f);
      const double dt = thread_cpu() - t0;
      best_ = std::max(best_, 2.0 * kN * kN * kN * 1e-9 / dt);
    }
    return best_;
  }
  double best() const { return best_; }

 private:
  static constexpr int kN = 1024;
  static std::size_t floats() {
    return static_cast<std::size_t>(GemmWorkspace::floats_needed()) + 16;
  }
  float* aligned() {
    auto p = reinterpret_cast<std::uintptr_t>(ws_mem_.data());
    return reinterpret_cast<float*>((p + 63) & ~std::uintptr_t{63});
  }
  std::vector<float> a_, b_, c_, ws_mem_;
  double best_ = 0.0;
};

// The project's register-tiled kernel (models/core/tiled_gemm.hpp, weights packed once) on the
// same 1024^3 product, best of a few, thread CPU time: what the transformer's Linear layers and
// the direct convolutions can reach beyond Eigen's sgemm on this machine.
double tiled_peak() {
  constexpr std::int64_t kN = 1024;
  std::vector<float> x(kN * kN, 0.5f), w(kN * kN, 0.25f), packed(kN * kN), y(kN * kN);
  models::pack_tiled_weights(kN, kN, w.data(), kN, packed.data());
  double best = 0.0;
  for (int r = 0; r < 3; ++r) {
    const double t0 = thread_cpu();
    models::tiled_gemm(kN, kN, kN, x.data(), kN, packed.data(), nullptr, y.data(), kN, false);
    best = std::max(best, 2.0 * kN * kN * kN * 1e-9 / (thread_cpu() - t0));
  }
  return best;
}

// The sgemm peak per core while `threads` cores multiply at once (each its own 1024^3 product
// and workspace, started together): what one core delivers when every core is busy, which is
// what a team's CPU-s are up against (shared L3 and memory, the package's all-core clock).
double concurrent_peak(int threads) {
  std::vector<SgemmPeak> peaks(static_cast<std::size_t>(threads));
  for (auto& p : peaks) p.measure(1);  // warm every thread's operands first
  std::atomic<int> ready{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      ready.fetch_add(1);
      while (ready.load() < threads) {
      }
      peaks[static_cast<std::size_t>(t)].measure(4);
    });
  for (auto& th : pool) th.join();
  double sum = 0.0;
  for (const auto& p : peaks) sum += p.best();
  return sum / threads;
}

// Per-stage time between the model's taps, in thread CPU time of the forward()'s thread (one
// thread) or in wall time (a team: the other workers' CPU time is not this thread's). Taps named
// "+step" end a step inside the next named stage: their time goes to "stage+step", and the time
// from the last step to the stage's tap to "stage+rest".
class StageTimer : public Probe {
 public:
  explicit StageTimer(bool cpu) : cpu_(cpu) {}
  void start() {
    last_ = stage_start_ = now();
    cpu_start_ = process_cpu();
  }
  void tap(std::string_view stage, std::span<const float>) override {
    const double t = now();
    if (stage.empty() || stage.front() != '+') {
      const double c = process_cpu();  // all threads: where a team's extra CPU time goes
      process_seconds[std::string(stage)] += c - cpu_start_;
      cpu_start_ = c;
    }
    if (!stage.empty() && stage.front() == '+') {
      pending_.emplace_back(std::string(stage), t - last_);
    } else {
      const std::string name(stage);
      seconds[name] += t - stage_start_;
      if (!pending_.empty()) {
        for (const auto& [step, dt] : pending_) steps[name + step] += dt;
        steps[name + "+rest"] += t - last_;
      }
      pending_.clear();
      stage_start_ = t;
    }
    last_ = t;
  }
  std::map<std::string, double> seconds;
  std::map<std::string, double> process_seconds;
  std::map<std::string, double> steps;

 private:
  double now() const { return cpu_ ? thread_cpu() : wall(); }
  bool cpu_;
  double last_ = 0.0, stage_start_ = 0.0, cpu_start_ = 0.0;
  std::vector<std::pair<std::string, double>> pending_;
};

// A ThreadTeam that accounts for where its CPU time goes: the thread CPU time spent inside the
// model's shares (useful work), split by the thread that ran them, next to the threads' total
// CPU time. What is left is the caller's serial code (outside any parallel region), the caller
// waiting for the last share of a region, and the workers spinning or waking between regions.
class AccountingTeam final : public rt::Parallel {
 public:
  explicit AccountingTeam(int threads) : team_(threads) {}
  int size() const override { return team_.size(); }
  void run(rt::FunctionRef<void(int)> fn) override {
    ++regions;
    const std::thread::id caller = std::this_thread::get_id();
    const double c0 = thread_cpu();
    team_.run([&](int share) {
      const double t0 = thread_cpu();
      fn(share);
      const double dt = thread_cpu() - t0;
      // Shares of one run have distinct indices; runs do not overlap.
      (std::this_thread::get_id() == caller ? caller_work_ : worker_work_)[share] += dt;
    });
    caller_in_regions += thread_cpu() - c0;
  }
  double caller_work() const { return sum(caller_work_); }
  double worker_work() const { return sum(worker_work_); }
  void reset() {
    regions = 0;
    caller_in_regions = 0.0;
    caller_work_.fill(0.0);
    worker_work_.fill(0.0);
  }
  long regions = 0;
  double caller_in_regions = 0.0;  // caller thread CPU inside run(): its shares + waiting

 private:
  static double sum(const std::array<double, 64>& a) {
    double s = 0.0;
    for (double v : a) s += v;
    return s;
  }
  rt::ThreadTeam team_;
  std::array<double, 64> caller_work_{}, worker_work_{};
};

// Thread CPU nanoseconds per element of the model's elementwise transcendental passes, on an
// L1-resident block (so this is their compute cost alone, no memory traffic): the exact GELU
// (ops.hpp gelu_inplace) and the GLU sigmoid a / (1 + exp(-g)) (the conv + GLU epilogue).
struct ElementwiseCost {
  double gelu_ns = 0.0, sigmoid_ns = 0.0;
};
ElementwiseCost measure_elementwise() {
  constexpr int kN = 4096, kReps = 2000;
  std::vector<float> a(kN), g(kN), o(kN);
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.5f);
  for (int i = 0; i < kN; ++i) {
    a[i] = normal(rng);
    g[i] = normal(rng);
  }
  ElementwiseCost best{1e9, 1e9};
  for (int round = 0; round < 3; ++round) {
    double t0 = thread_cpu();
    for (int r = 0; r < kReps; ++r) {
      std::copy(a.begin(), a.end(), o.begin());
      gelu_inplace(o.data(), kN);
    }
    double t1 = thread_cpu();
    best.gelu_ns = std::min(best.gelu_ns, (t1 - t0) * 1e9 / (static_cast<double>(kReps) * kN));
    t0 = thread_cpu();
    for (int r = 0; r < kReps; ++r) glu_pass(a.data(), g.data(), kN, o.data());
    t1 = thread_cpu();
    best.sigmoid_ns =
        std::min(best.sigmoid_ns, (t1 - t0) * 1e9 / (static_cast<double>(kReps) * kN));
  }
  return best;
}

struct Built {
  std::unique_ptr<rt::MemoryBudget> budget;
  std::unique_ptr<HTDemucs> model;
  std::size_t params = 0;
};

Built build(rt::Parallel* team) {
  Built b;
  const HTDemucsConfig config = full_size_config();
  b.budget = std::make_unique<rt::MemoryBudget>(std::size_t{4} << 30);
  auto image = random_weights(config, b.params);
  auto file = models::SafetensorsFile::from_bytes(image, "random full-size htdemucs");
  b.model = std::make_unique<HTDemucs>(config, file, *b.budget, "htdemucs", nullptr, team);
  return b;
}

std::vector<float> random_mix(std::int64_t L) {
  std::vector<float> mix(2 * static_cast<std::size_t>(L));
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uni(-0.5f, 0.5f);
  for (float& v : mix) v = uni(rng);
  return mix;
}

// --rss-child N: build with N threads, separate one segment, print "<VmHWM MiB> <budget MiB>".
int rss_child(int threads) {
  std::unique_ptr<rt::ThreadTeam> team;
  if (threads > 1) team = std::make_unique<rt::ThreadTeam>(threads);
  Built b = build(team.get());
  const std::int64_t L = b.model->segment_length();
  auto mix = random_mix(L);
  std::vector<float> out(8 * static_cast<std::size_t>(L));
  b.model->forward(mix.data(), L, out.data());
  std::printf("%.1f %.1f\n", peak_rss_mib(), static_cast<double>(b.budget->peak()) / (1 << 20));
  return 0;
}

// Runs this binary with --rss-child and reads its answer.
bool measure_rss(const char* self, int threads, double& rss, double& budget) {
  int fds[2];
  if (pipe(fds) != 0) return false;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  const std::string n = std::to_string(threads);
  char* argv[] = {const_cast<char*>(self), const_cast<char*>("--rss-child"),
                  const_cast<char*>(n.c_str()), nullptr};
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, self, &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return false;
  }
  std::string text;
  char buf[256];
  for (ssize_t got; (got = read(fds[0], buf, sizeof buf)) > 0;) text.append(buf, got);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  std::istringstream in(text);
  return static_cast<bool>(in >> rss >> budget) && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

struct RunResult {
  double seconds = 0.0;                         // per segment: thread CPU (1 thread) or wall (team)
  double process_cpu = 0.0;                     // per segment, all threads
  std::map<std::string, double> stage;          // per segment
  std::map<std::string, double> stage_process;  // per segment, process CPU
  std::map<std::string, double> steps;          // per segment, "stage+step"
  // A team's CPU time per segment: shares run by the caller / by the other threads, the
  // caller waiting inside regions, the caller's serial code, everything else (the other
  // threads between regions: spinning, waking).
  double caller_work = 0, worker_work = 0, caller_wait = 0, serial = 0, idle = 0;
  long regions = 0;
};

RunResult run_model(HTDemucs& model, int iterations, bool cpu_clock, SgemmPeak& peak,
                    AccountingTeam* team) {
  const std::int64_t L = model.segment_length();
  auto mix = random_mix(L);
  std::vector<float> out(8 * static_cast<std::size_t>(L));
  StageTimer timer(cpu_clock);
  model.forward(mix.data(), L, out.data());  // warm-up (FFTW plans, page faults)
  model.set_probe(&timer);
  RunResult r;
  double caller_cpu = 0.0;
  if (team != nullptr) team->reset();
  for (int i = 0; i < iterations; ++i) {
    peak.measure(1);  // interleaved: the peak sees the same machine state as the model
    const double p0 = process_cpu(), c0 = thread_cpu();
    timer.start();
    model.forward(mix.data(), L, out.data());
    r.process_cpu += process_cpu() - p0;
    caller_cpu += thread_cpu() - c0;
  }
  model.set_probe(nullptr);
  peak.measure(1);
  for (const auto& [name, s] : timer.seconds) {
    r.stage[name] = s / iterations;
    r.seconds += s / iterations;
  }
  for (const auto& [name, s] : timer.process_seconds) r.stage_process[name] = s / iterations;
  for (const auto& [name, s] : timer.steps) r.steps[name] = s / iterations;
  r.process_cpu /= iterations;
  if (team != nullptr) {
    const double n = iterations;
    r.caller_work = team->caller_work() / n;
    r.worker_work = team->worker_work() / n;
    r.caller_wait = team->caller_in_regions / n - r.caller_work;
    r.serial = caller_cpu / n - team->caller_in_regions / n;
    r.idle = r.process_cpu - caller_cpu / n - r.worker_work;
    r.regions = team->regions / iterations;
  }
  return r;
}

std::vector<int> parse_list(const std::string& s) {
  std::vector<int> v;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) v.push_back(std::stoi(item));
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> thread_counts = {1, 2};
  int iterations = 2;
  bool rss = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--rss-child" && i + 1 < argc) return rss_child(std::stoi(argv[i + 1]));
    if (a == "--threads" && i + 1 < argc) {
      thread_counts = parse_list(argv[++i]);
    } else if (a == "--no-rss") {
      rss = false;
    } else if (a == "--iterations" && i + 1 < argc) {
      iterations = std::max(1, std::stoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: %s [--threads 1,2] [--iterations 2] [--no-rss]\n", argv[0]);
      return 2;
    }
  }
  const HTDemucsConfig config = full_size_config();
  const double audio_s = static_cast<double>(config.training_length()) / config.samplerate;
  const double stride_s = 0.75 * audio_s;  // live: overlap 0.25
  std::printf("HTDemucs full size, random weights; load average at start: %s; %ld CPUs online\n",
              load_average().c_str(), sysconf(_SC_NPROCESSORS_ONLN));

  // Peak memory first, each in a fresh process (before this one holds models or threads).
  for (int t : thread_counts) {
    if (!rss) break;
    double rss_mib = 0, budget = 0;
    if (measure_rss("/proc/self/exe", t, rss_mib, budget))
      std::printf(
          "peak RSS, one segment, %d thread(s), fresh process: %.0f MiB (budget %.0f MiB)\n", t,
          rss_mib, budget);
    else
      std::printf("peak RSS, %d thread(s): child process failed\n", t);
  }

  SgemmPeak peak;
  peak.measure(3);
  std::vector<StageCost> costs;
  double total_flops = 0.0;
  std::size_t params = 0;
  std::map<int, RunResult> results;
  for (int t : thread_counts) {
    std::unique_ptr<AccountingTeam> team;
    if (t > 1) team = std::make_unique<AccountingTeam>(t);
    Built b = build(team.get());
    if (costs.empty()) {
      costs = b.model->stage_costs();
      for (const auto& s : costs) total_flops += s.flops;
      params = b.params;
    }
    results[t] = run_model(*b.model, iterations, /*cpu_clock=*/t == 1, peak, team.get());
  }
  const ElementwiseCost ew = measure_elementwise();
  const double P = peak.best();
  const double G = total_flops * 1e-9;
  std::printf("%.1fM parameters, %.1f GFLOP per %.2f s segment\n", params * 1e-6, G, audio_s);
  std::printf(
      "sgemm peak (Eigen's kernel through models::gemm, 1 thread, 1024^3, thread CPU time, "
      "best in this run): %.1f GFLOP/s\n",
      P);
  std::printf("floor at that peak: %.2f s per segment on 1 core, %.2f s on 2 cores\n", G / P,
              G / P / 2);
  const double tiled = tiled_peak();
  std::printf(
      "the project's tiled kernel on the same product: %.1f GFLOP/s (%.0f%% of the sgemm peak); "
      "every %% of peak below is against the sgemm peak, so stages on the tiled and direct "
      "kernels can pass 100%%\n",
      tiled, 100.0 * tiled / P);
  std::map<int, double> team_peak;  // per core, all cores of a team busy
  for (int t : thread_counts) {
    if (t < 2) continue;
    team_peak[t] = concurrent_peak(t);
    std::printf(
        "sgemm peak per core with %d cores multiplying at once: %.1f GFLOP/s (%.0f%% of 1 core "
        "alone): the floor of a %d-thread team is %.2f CPU-s, %.2f s wall\n",
        t, team_peak[t], 100.0 * team_peak[t] / P, t, G / team_peak[t], G / team_peak[t] / t);
  }

  std::printf("\n%-18s %8s", "stage", "GFLOP");
  for (int t : thread_counts)
    std::printf(t == 1 ? " | %9s %8s %6s" : " | %9s %8s %9s %6s",
                t == 1 ? "1t cpu ms" : (std::to_string(t) + "t wall ms").c_str(), "GFLOP/s",
                t == 1 ? "%peak" : (std::to_string(t) + "t cpu ms").c_str(), "cpu/1t");
  std::printf("\n");
  const bool have1 = results.count(1) > 0;
  for (const auto& s : costs) {
    std::printf("%-18s %8.2f", s.name.c_str(), s.flops * 1e-9);
    for (int t : thread_counts) {
      const double sec = results[t].stage[s.name];
      const double rate = sec > 0 ? s.flops * 1e-9 / sec : 0.0;
      if (t == 1) {
        std::printf(" | %9.1f %8.1f %5.0f%%", sec * 1e3, rate, 100.0 * rate / P);
      } else {
        const double cpu = results[t].stage_process[s.name];
        const double one = have1 ? results[1].stage[s.name] : 0.0;
        std::printf(" | %9.1f %8.1f %9.1f %6.2f", sec * 1e3, rate, cpu * 1e3,
                    one > 0 ? cpu / one : 0.0);
      }
    }
    std::printf("\n");
  }

  // What bounds the U-Net levels: the FLOP count at the sgemm peak plus the transcendental
  // elementwise work it leaves out (every GELU and GLU sigmoid at its in-cache cost measured
  // here), before any memory traffic. "best %" is the % of peak a stage would reach if
  // everything but that elementwise work ran at the peak.
  if (have1) {
    const RunResult& r1 = results[1];
    std::printf(
        "\nbounds of the U-Net levels, 1 thread: GELU %.3f ns, GLU sigmoid %.3f ns per element "
        "(in cache, thread CPU)\n%-7s %7s %8s %8s | %8s %8s %8s %6s | %8s %6s %6s\n",
        ew.gelu_ns, ew.sigmoid_ns, "stage", "GFLOP", "GELU M", "GLU M", "peak ms", "elem ms",
        "bound ms", "best%", "1t ms", "%peak", "%seg");
    for (const auto& s : costs) {
      if (s.gelus + s.sigmoids <= 0.0) continue;
      const double peak_ms = s.flops * 1e-9 / P * 1e3;
      const double elem_ms = (s.gelus * ew.gelu_ns + s.sigmoids * ew.sigmoid_ns) * 1e-6;
      const double ms = r1.stage.count(s.name) ? r1.stage.at(s.name) * 1e3 : 0.0;
      std::printf("%-7s %7.2f %8.2f %8.2f | %8.1f %8.1f %8.1f %5.0f%% | %8.1f %5.0f%% %5.1f%%\n",
                  s.name.c_str(), s.flops * 1e-9, s.gelus * 1e-6, s.sigmoids * 1e-6, peak_ms,
                  elem_ms, peak_ms + elem_ms, 100.0 * peak_ms / (peak_ms + elem_ms), ms,
                  ms > 0 ? 100.0 * peak_ms / ms : 0.0, 100.0 * ms * 1e-3 / r1.seconds);
    }
  }

  // Steps inside each U-Net level (probe taps "+step"): where a stage's time goes.
  for (int t : thread_counts) {
    std::printf("\nsteps inside the U-Net levels, %d thread(s) (%s ms per segment):\n", t,
                t == 1 ? "thread CPU" : "wall");
    for (const auto& s : costs) {
      const std::string prefix = s.name + "+";
      std::string line;
      for (const auto& [name, sec] : results[t].steps)
        if (name.rfind(prefix, 0) == 0) {
          char buf[96];
          std::snprintf(buf, sizeof buf, "  %s %.1f", name.c_str() + prefix.size(), sec * 1e3);
          line += buf;
        }
      if (!line.empty()) std::printf("  %-7s%s\n", s.name.c_str(), line.c_str());
    }
  }
  std::printf("\n");
  for (int t : thread_counts) {
    const RunResult& r = results[t];
    const double cpu = r.process_cpu;
    std::printf(
        "%d thread(s): %.2f s per segment (%s), %.2f CPU-s, real-time factor %.2f, %.1f GFLOP/s "
        "(%.0f%% of %d x peak); PyTorch 16-18 CPU-s: %.1f-%.1fx fewer CPU-s; live (%.2f s "
        "stride): %s\n",
        t, r.seconds, t == 1 ? "thread CPU" : "wall", cpu, audio_s / r.seconds, G / r.seconds,
        100.0 * G / r.seconds / (P * t), t, 16.0 / cpu, 18.0 / cpu, stride_s,
        r.seconds < stride_s ? "keeps up" : "falls behind");
    if (t > 1)
      std::printf(
          "  where the %d threads' %.3f CPU-s go: shares run by the caller %.3f, by the other "
          "threads %.3f (work %.3f%s), caller waiting for the last share %.3f, caller serial "
          "code %.3f, other threads between regions (spin/wake) %.3f; %ld parallel regions\n",
          t, cpu, r.caller_work, r.worker_work, r.caller_work + r.worker_work,
          have1 ? (" vs 1 thread's " + std::to_string(results[1].seconds).substr(0, 5)).c_str()
                : "",
          r.caller_wait, r.serial, r.idle, r.regions);
    if (team_peak.count(t) != 0)
      std::printf(
          "  against the peak per core with all %d cores busy (%.1f GFLOP/s): %.0f%%, "
          "floor %.2f CPU-s\n",
          t, team_peak[t], 100.0 * G / cpu / team_peak[t], G / team_peak[t]);
  }
  // Issue 4's aim: at least 3x faster than the PyTorch CPU reference (16-18 CPU-s per segment on
  // this 2-core machine). 3x the faster end (16 CPU-s) allows 5.33 CPU-s; a team's wall time is
  // held against the reference's CPU-s spread perfectly over the same number of cores.
  constexpr double kTorchLow = 16.0, kTorchHigh = 18.0, kAim = 3.0;
  for (int t : thread_counts) {
    const RunResult& r = results[t];
    const double cpu = t == 1 ? r.seconds : r.process_cpu;
    const double wall_limit = kTorchLow / t / kAim;
    std::printf(
        "3x aim, %d thread(s): %.2f CPU-s per segment vs PyTorch %.0f-%.0f CPU-s = %.2f-%.2fx "
        "(aim >= %.0fx: <= %.2f CPU-s): %s",
        t, cpu, kTorchLow, kTorchHigh, kTorchLow / cpu, kTorchHigh / cpu, kAim, kTorchLow / kAim,
        kTorchLow / cpu >= kAim ? "MET" : "NOT MET");
    if (t > 1)
      std::printf("; wall %.2f s vs <= %.2f s (PyTorch's CPU-s over %d cores / 3): %s", r.seconds,
                  wall_limit, t, r.seconds <= wall_limit ? "MET" : "NOT MET");
    std::printf("\n");
  }
  if (results.count(1)) {
    // Issue 4's other aim: every heavy stage at >= 70% of the sgemm peak. Heavy: a stage with
    // FLOPs that takes at least 1% of the segment; the lighter ones are listed with their share.
    const RunResult& r1 = results[1];
    double worst = 1e9;
    std::string worst_name, light;
    for (const auto& s : costs) {
      const double sec = r1.stage.count(s.name) ? r1.stage.at(s.name) : 0.0;
      if (s.flops <= 0.0 || sec <= 0.0) continue;
      const double pct = 100.0 * s.flops * 1e-9 / sec / P;
      const double share = 100.0 * sec / r1.seconds;
      if (share < 1.0) {
        if (pct < 70.0) {
          char buf[96];
          std::snprintf(buf, sizeof buf, " %s %.0f%% (%.1f%% of the segment)", s.name.c_str(), pct,
                        share);
          light += buf;
        }
        continue;
      }
      if (pct < worst) {
        worst = pct;
        worst_name = s.name;
      }
    }
    std::printf(
        "70%% aim, 1 thread: stages over 1%% of the segment at >= %.0f%% of the sgemm peak "
        "(lowest: %s): %s; lighter stages under 70%%:%s\n",
        worst, worst_name.c_str(), worst >= 70.0 ? "MET" : "NOT MET",
        light.empty() ? " none" : light.c_str());
  }
  if (results.count(1)) {
    // Cores needed for live separation at the measured 1-thread speed, assuming the team's
    // measured parallel efficiency (or a perfect split when only 1 thread was run).
    double eff = 1.0;
    for (int t : thread_counts)
      if (t > 1) eff = std::min(eff, results[1].seconds / (results[t].seconds * t));
    const int cores = static_cast<int>(std::ceil(results[1].seconds / (stride_s * eff)));
    std::printf(
        "live f32 separation (overlap 0.25) keeps up from %d core(s) at this speed "
        "(parallel efficiency %.0f%%)\n",
        std::max(cores, 1), 100.0 * eff);
  }
  std::printf(
      "PyTorch CPU reference (issue 4, same 2-core machine): 16-18 CPU-s per segment, "
      "1.5 GB peak RSS\nload average at end: %s\n",
      load_average().c_str());
  return 0;
}
