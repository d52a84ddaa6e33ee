// The register-tiled attention kernels against a naive double-precision softmax attention:
// head widths below, at and above one 64-channel chunk (masked vectors), key counts that leave
// tails after the 48-key tiles and span several key passes, every row-tile remainder; and the
// same rows computed in one call or split across calls give the same bits (thread splits).
#include "models/htdemucs/attention_kernel.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace earshot::htdemucs {
namespace {

struct Head {
  int rows, hd;
  std::int64_t nk;
  std::int64_t ldq, ldk, ldv, ldc;
  std::vector<float> q, kt, v;

  Head(int rows_, int hd_, std::int64_t nk_, std::mt19937& rng)
      : rows(rows_), hd(hd_), nk(nk_), ldq(hd_ + 5), ldk(nk_ + 3), ldv(hd_ + 7), ldc(hd_ + 2) {
    std::normal_distribution<float> n(0.0f, 1.0f);
    q.resize(static_cast<std::size_t>(rows * ldq));
    kt.resize(static_cast<std::size_t>(hd * ldk));
    v.resize(static_cast<std::size_t>(nk * ldv));
    for (float& x : q) x = n(rng) * 0.3f;
    for (float& x : kt) x = n(rng);
    for (float& x : v) x = n(rng);
  }

  // Rows [r0, r1) through the three kernels into ctx (row stride ldc).
  void run(int r0, int r1, std::vector<float>& ctx) const {
    const int n = r1 - r0;
    std::vector<float> s(static_cast<std::size_t>(n * nk)), inv(static_cast<std::size_t>(n));
    attention_scores(q.data() + r0 * ldq, ldq, kt.data(), ldk, n, nk, hd, s.data(), nk);
    softmax_numerators(s.data(), nk, n, nk, inv.data());
    attention_context(s.data(), nk, v.data(), ldv, n, nk, hd, inv.data(), ctx.data() + r0 * ldc,
                      ldc);
  }

  std::vector<double> reference_row(int r) const {
    std::vector<double> s(static_cast<std::size_t>(nk));
    double mx = -INFINITY;
    for (std::int64_t j = 0; j < nk; ++j) {
      double a = 0.0;
      for (int d = 0; d < hd; ++d) a += static_cast<double>(q[r * ldq + d]) * kt[d * ldk + j];
      s[j] = a;
      mx = std::max(mx, a);
    }
    double sum = 0.0;
    for (double& x : s) sum += (x = std::exp(x - mx));
    std::vector<double> out(static_cast<std::size_t>(hd), 0.0);
    for (int c = 0; c < hd; ++c) {
      for (std::int64_t j = 0; j < nk; ++j) out[c] += s[j] * v[j * ldv + c];
      out[c] /= sum;
    }
    return out;
  }
};

TEST(AttentionKernel, MatchesDoubleSoftmaxAttention) {
  std::mt19937 rng(5);
  for (const int hd : {6, 16, 48, 64, 80}) {
    for (const std::int64_t nk : {1, 17, 48, 101, 300}) {
      const Head h(13, hd, nk, rng);
      std::vector<float> ctx(static_cast<std::size_t>(h.rows * h.ldc), -7.0f);
      h.run(0, h.rows, ctx);
      for (int r = 0; r < h.rows; ++r) {
        const auto ref = h.reference_row(r);
        for (int c = 0; c < hd; ++c)
          ASSERT_NEAR(ctx[r * h.ldc + c], ref[c], 2e-5 * (1.0 + std::abs(ref[c])))
              << "hd=" << hd << " nk=" << nk << " row " << r << " channel " << c;
        for (std::int64_t c = hd; c < h.ldc; ++c)  // the row padding is not written
          ASSERT_EQ(ctx[r * h.ldc + c], -7.0f);
      }
    }
  }
}

TEST(AttentionKernel, RowSplitsGiveIdenticalBits) {
  // A worker owning rows [a, b) computes exactly what one call over all rows does.
  std::mt19937 rng(9);
  const Head h(29, 64, 400, rng);
  std::vector<float> whole(static_cast<std::size_t>(h.rows * h.ldc), 0.0f), split = whole;
  h.run(0, h.rows, whole);
  h.run(0, 5, split);
  h.run(5, 18, split);
  h.run(18, h.rows, split);
  EXPECT_EQ(whole, split);
}

}  // namespace
}  // namespace earshot::htdemucs
