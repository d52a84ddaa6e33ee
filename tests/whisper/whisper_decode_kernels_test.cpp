// The one-token decode kernels against plain double-precision references: the few-row GEMV
// (F16 and F32; 1..8 inputs; row ranges not multiples of the 8/4-row blocks; column counts
// with and without a scalar tail; store and accumulate), cross-attention over the head-packed
// K/V stored F32 and F16 (1..9 queries, key counts that end mid-panel, head sizes 16/64 with the
// vector path and 24 without), self-attention over a strided cache, and StagedWork's claim/wait
// protocol with a thread team (every chunk runs exactly once, stages never overlap).
#include "models/core/half.hpp"
#include "models/whisper/decode_attention.hpp"
#include "models/whisper/gemv.hpp"
#include "models/whisper/staged_work.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <random>
#include <vector>

namespace {
using namespace earshot::models::whisper;
namespace rt = earshot::rt;

std::vector<float> random_values(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

WeightMatrix make_weight(rt::MemoryBudget& budget, WeightType type, int rows, int cols,
                         std::vector<float>& values) {
  WeightMatrix w;
  w.type = type;
  w.rows = rows;
  w.cols = cols;
  w.storage = budget.reserve("test weight", WeightMatrix::bytes_for(type, rows, cols));
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (type == WeightType::F16) {
      w.mutable_f16()[i] = earshot::models::f32_to_f16(values[i]);
      values[i] = earshot::models::f16_to_f32(w.mutable_f16()[i]);
    } else {
      w.mutable_f32()[i] = values[i];
    }
  }
  return w;
}

TEST(WhisperDecodeKernels, GemvRowsMatchesReference) {
  rt::MemoryBudget budget(64u << 20);
  for (WeightType type : {WeightType::F16, WeightType::F32})
    for (int cols : {32, 40, 384})
      for (int n = 1; n <= kGemvMaxInputs; ++n)
        for (bool accumulate : {false, true}) {
          const int rows = 77;
          auto wv = random_values(static_cast<std::size_t>(rows) * cols, 11 + cols);
          const auto x = random_values(static_cast<std::size_t>(n) * cols, 5 + n);
          const auto bias = random_values(static_cast<std::size_t>(rows), 3);
          const WeightMatrix w = make_weight(budget, type, rows, cols, wv);
          const int j0 = 3, j1 = 70, ldy = 80;
          std::vector<float> y(static_cast<std::size_t>(n) * ldy, 0.5f);
          gemv_rows(x.data(), n, w, j0, j1, bias.data(), y.data(), ldy, accumulate);
          for (int t = 0; t < n; ++t)
            for (int j = 0; j < ldy; ++j) {
              const float got = y[static_cast<std::size_t>(t) * ldy + j];
              if (j >= j1 - j0) {
                EXPECT_EQ(got, 0.5f) << "wrote past the range";
                continue;
              }
              double ref = bias[static_cast<std::size_t>(j0 + j)] + (accumulate ? 0.5 : 0.0);
              for (int c = 0; c < cols; ++c)
                ref += static_cast<double>(wv[static_cast<std::size_t>(j0 + j) * cols + c]) *
                       x[static_cast<std::size_t>(t) * cols + c];
              EXPECT_NEAR(got, ref, 1e-4 * std::sqrt(cols))
                  << "type " << static_cast<int>(type) << " cols " << cols << " n " << n;
            }
        }
}

// softmax(scale q.k) v for one query, in double.
std::vector<double> reference_attention(const float* q, const std::vector<const float*>& keys,
                                        const std::vector<const float*>& values, int hd,
                                        double scale) {
  std::vector<double> s(keys.size());
  double m = -1e300;
  for (std::size_t j = 0; j < keys.size(); ++j) {
    double dot = 0.0;
    for (int c = 0; c < hd; ++c) dot += static_cast<double>(q[c]) * keys[j][c];
    s[j] = dot * scale;
    m = std::max(m, s[j]);
  }
  double sum = 0.0;
  for (double& v : s) sum += (v = std::exp(v - m));
  std::vector<double> out(static_cast<std::size_t>(hd), 0.0);
  for (std::size_t j = 0; j < keys.size(); ++j)
    for (int c = 0; c < hd; ++c) out[static_cast<std::size_t>(c)] += s[j] / sum * values[j][c];
  return out;
}

TEST(WhisperDecodeKernels, PackedHeadAttentionMatchesReference) {
  for (bool f16 : {false, true})
    for (int hd : {16, 24, 64})
      for (int n_key : {1, 15, 17, 100})
        for (int n_query : {1, 2, 3, 4, 5, 9}) {
          const int heads = 3, d = heads * hd, head = 1;
          auto k = random_values(static_cast<std::size_t>(n_key) * d, 1);
          auto v = random_values(static_cast<std::size_t>(n_key) * d, 2);
          const auto q = random_values(static_cast<std::size_t>(n_query) * d, 3);
          std::vector<float> kp(packed_k_floats(n_key, hd), -7.0f);
          std::vector<float> vh(static_cast<std::size_t>(n_key) * hd);
          std::vector<float> scores(packed_scores_floats(n_key));
          std::vector<float> out(static_cast<std::size_t>(n_query) * d, 0.0f);
          const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
          // F16 storage: the reference sees the same F16-rounded K/V.
          std::vector<std::uint16_t> kp16(kp.size()), vh16(vh.size());
          if (f16) {
            pack_head_keys(k.data(), n_key, d, head, hd, kp16.data());
            copy_head_values(v.data(), n_key, d, head, hd, vh16.data());
            attend_packed_head(q.data() + head * hd, n_query, d, kp16.data(), vh16.data(), n_key,
                               hd, scale, scores.data(), out.data() + head * hd, d);
            for (float& x : k) x = earshot::models::f16_to_f32(earshot::models::f32_to_f16(x));
            for (float& x : v) x = earshot::models::f16_to_f32(earshot::models::f32_to_f16(x));
          } else {
            pack_head_keys(k.data(), n_key, d, head, hd, kp.data());
            copy_head_values(v.data(), n_key, d, head, hd, vh.data());
            attend_packed_head(q.data() + head * hd, n_query, d, kp.data(), vh.data(), n_key, hd,
                               scale, scores.data(), out.data() + head * hd, d);
          }
          std::vector<const float*> keys, values;
          for (int j = 0; j < n_key; ++j) {
            keys.push_back(k.data() + static_cast<std::size_t>(j) * d + head * hd);
            values.push_back(v.data() + static_cast<std::size_t>(j) * d + head * hd);
          }
          for (int t = 0; t < n_query; ++t) {
            const auto ref = reference_attention(
                q.data() + static_cast<std::size_t>(t) * d + head * hd, keys, values, hd, scale);
            for (int c = 0; c < d; ++c) {
              const float got = out[static_cast<std::size_t>(t) * d + c];
              if (c < head * hd || c >= (head + 1) * hd)
                EXPECT_EQ(got, 0.0f) << "wrote outside the head";
              else
                EXPECT_NEAR(got, ref[static_cast<std::size_t>(c - head * hd)], 2e-5)
                    << "f16 " << f16 << " hd " << hd << " keys " << n_key << " queries " << n_query;
            }
          }
        }
}

TEST(WhisperDecodeKernels, StridedHeadAttentionMatchesReference) {
  for (int hd : {16, 24, 64})
    for (int n_key : {1, 7, 65}) {
      const int d = 2 * hd;
      const auto k = random_values(static_cast<std::size_t>(n_key) * d, 4);
      const auto v = random_values(static_cast<std::size_t>(n_key) * d, 5);
      const auto q = random_values(static_cast<std::size_t>(hd), 6);
      std::vector<float> scores(static_cast<std::size_t>(n_key)), out(static_cast<std::size_t>(hd));
      const float scale = 0.125f;
      attend_strided_head(q.data(), k.data() + hd, v.data() + hd, d, n_key, hd, scale,
                          scores.data(), out.data());
      std::vector<const float*> keys, values;
      for (int j = 0; j < n_key; ++j) {
        keys.push_back(k.data() + static_cast<std::size_t>(j) * d + hd);
        values.push_back(v.data() + static_cast<std::size_t>(j) * d + hd);
      }
      const auto ref = reference_attention(q.data(), keys, values, hd, scale);
      for (int c = 0; c < hd; ++c)
        EXPECT_NEAR(out[static_cast<std::size_t>(c)], ref[static_cast<std::size_t>(c)], 2e-5);
    }
}

TEST(WhisperDecodeKernels, StagedWorkRunsEveryChunkOnceInStageOrder) {
  constexpr int kStages = 40, kChunks = 7;
  StagedWork work(kStages);
  ThreadTeam team(3);
  std::vector<std::atomic<int>> runs(kStages * kChunks);
  std::atomic<int> finished_stages{0};
  std::atomic<int> order_errors{0};
  for (int round = 0; round < 20; ++round) {
    for (auto& r : runs) r.store(0);
    finished_stages.store(0);
    work.reset(kStages);
    team.run([&](int) {
      for (int s = 0; s < kStages; ++s) {
        for (int i; (i = work.claim(s, kChunks)) >= 0;) {
          // Every chunk of stage s-1 must be finished before any of stage s starts.
          if (s > 0)
            for (int c = 0; c < kChunks; ++c)
              if (runs[static_cast<std::size_t>((s - 1) * kChunks + c)].load() != 1) ++order_errors;
          runs[static_cast<std::size_t>(s * kChunks + i)].fetch_add(1);
          work.finish(s);
        }
        work.wait(s, kChunks);
      }
    });
    for (auto& r : runs) EXPECT_EQ(r.load(), 1);
  }
  EXPECT_EQ(order_errors.load(), 0);
}

}  // namespace
