// The shared GEMM (models/core/gemm.hpp) against a naive double-precision product: every
// transpose combination, odd sizes, row strides wider than the matrices, beta 0 and 1, and no
// heap call at all while a GemmWorkspace::Scope is open.
//
// Heap calls (allocations and frees) are counted at malloc, process-wide (tests/heap_counter.hpp).
#include "models/core/gemm.hpp"
#include "tests/heap_counter.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <vector>

namespace {
// Heap calls (allocations and frees) made so far by the whole process.
long heap_calls() {
  return earshot::test::heap_allocations() + earshot::test::heap_frees();
}
}  // namespace

namespace earshot::models {
namespace {

struct Shape {
  std::int64_t m, n, k;
};

// Odd sizes around the kernel's register tiles, a reduction longer than one kc block, and a
// wide product whose packed right-hand side exceeds one nc block.
const Shape kShapes[] = {{1, 1, 1},    {3, 5, 7},     {17, 33, 9},    {48, 64, 16},
                         {31, 257, 3}, {65, 19, 700}, {37, 6000, 401}};

// A GemmWorkspace over a 64-byte-aligned slice of a vector allocated up front.
class OwnedWorkspace {
 public:
  OwnedWorkspace() : storage_(static_cast<std::size_t>(GemmWorkspace::floats_needed()) + 16) {
    auto* p = storage_.data();
    while (reinterpret_cast<std::uintptr_t>(p) % 64 != 0) ++p;
    workspace_ = std::make_unique<GemmWorkspace>(p);
  }
  GemmWorkspace& get() { return *workspace_; }

 private:
  std::vector<float> storage_;
  std::unique_ptr<GemmWorkspace> workspace_;
};

// Operands of one test product, stored with row strides wider than the rows.
struct Case {
  bool ta, tb;
  Shape s;
  std::int64_t lda, ldb, ldc;
  std::vector<float> a, b, c0;

  Case(bool ta_, bool tb_, Shape s_, std::mt19937& rng) : ta(ta_), tb(tb_), s(s_) {
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    const std::int64_t a_rows = ta ? s.k : s.m, a_cols = ta ? s.m : s.k;
    const std::int64_t b_rows = tb ? s.n : s.k, b_cols = tb ? s.k : s.n;
    lda = a_cols + 3;
    ldb = b_cols + 5;
    ldc = s.n + 2;
    a.resize(static_cast<std::size_t>(a_rows * lda));
    b.resize(static_cast<std::size_t>(b_rows * ldb));
    c0.resize(static_cast<std::size_t>(s.m * ldc));
    for (float& x : a) x = u(rng);
    for (float& x : b) x = u(rng);
    for (float& x : c0) x = u(rng);
  }
  float A(std::int64_t i, std::int64_t p) const { return ta ? a[p * lda + i] : a[i * lda + p]; }
  float B(std::int64_t p, std::int64_t j) const { return tb ? b[j * ldb + p] : b[p * ldb + j]; }

  void run(std::vector<float>& c, float beta) const {
    gemm(ta, tb, s.m, s.n, s.k, a.data(), lda, b.data(), ldb, c.data(), ldc, beta);
  }

  // Every element within the worst-case float summation bound of the double product
  // (k + 1 roundings of at most 2^-24 relative each, on the sum of |terms|), and the padding
  // columns of C untouched.
  void check(const std::vector<float>& c, float beta) const {
    const double unit = std::ldexp(1.0, -24);
    for (std::int64_t i = 0; i < s.m; ++i) {
      for (std::int64_t j = 0; j < s.n; ++j) {
        double exact = beta != 0.0f ? c0[i * ldc + j] : 0.0;
        double magnitude = std::abs(exact);
        for (std::int64_t p = 0; p < s.k; ++p) {
          const double t = static_cast<double>(A(i, p)) * B(p, j);
          exact += t;
          magnitude += std::abs(t);
        }
        const double bound = static_cast<double>(s.k + 2) * unit * magnitude + 1e-30;
        ASSERT_LE(std::abs(c[i * ldc + j] - exact), bound)
            << "ta=" << ta << " tb=" << tb << " m=" << s.m << " n=" << s.n << " k=" << s.k
            << " at (" << i << ", " << j << ") beta=" << beta;
      }
      for (std::int64_t j = s.n; j < ldc; ++j) ASSERT_EQ(c[i * ldc + j], c0[i * ldc + j]);
    }
  }
};

TEST(SharedGemm, CounterSeesHeapCalls) {
  const long before = heap_calls();
  auto* v = new std::vector<float>(1000);
  delete v;
  EXPECT_GT(heap_calls(), before);
}

TEST(SharedGemm, MatchesDoubleProductInsideScopeWithoutHeapCalls) {
  std::mt19937 rng(7);
  OwnedWorkspace ws;
  for (const Shape& s : kShapes) {
    for (int t = 0; t < 4; ++t) {
      const Case cs(t & 1, t & 2, s, rng);
      for (const float beta : {0.0f, 1.0f}) {
        std::vector<float> c = cs.c0;
        if (beta == 0.0f)  // overwrite means C's old contents (even NaN) do not matter
          for (std::int64_t i = 0; i < s.m; ++i)
            for (std::int64_t j = 0; j < s.n; ++j)
              c[i * cs.ldc + j] = std::numeric_limits<float>::quiet_NaN();
        long calls = 0;
        {
          GemmWorkspace::Scope scope(ws.get());
          const long before = heap_calls();
          cs.run(c, beta);
          calls = heap_calls() - before;
        }
        EXPECT_EQ(calls, 0) << "m=" << s.m << " n=" << s.n << " k=" << s.k;
        cs.check(c, beta);
      }
    }
  }
}

TEST(SharedGemm, WithoutScopeFallsBackToAPlainProduct) {
  std::mt19937 rng(11);
  for (const Shape& s : {Shape{5, 9, 13}, Shape{65, 19, 700}}) {
    for (int t = 0; t < 4; ++t) {
      const Case cs(t & 1, t & 2, s, rng);
      for (const float beta : {0.0f, 1.0f}) {
        std::vector<float> c = cs.c0;
        cs.run(c, beta);
        cs.check(c, beta);
      }
    }
  }
}

TEST(SharedGemm, ResultsAreRepeatableAndScopesNest) {
  // Fixed blocking: the same product gives the same bits every time, also through a nested
  // Scope over another workspace and after it closes.
  std::mt19937 rng(3);
  OwnedWorkspace outer, inner;
  const Case cs(false, true, {37, 6000, 401}, rng);
  std::vector<float> first = cs.c0, second = cs.c0, third = cs.c0;
  GemmWorkspace::Scope scope(outer.get());
  cs.run(first, 0.0f);
  {
    GemmWorkspace::Scope nested(inner.get());
    cs.run(second, 0.0f);
  }
  const long before = heap_calls();
  cs.run(third, 0.0f);
  EXPECT_EQ(heap_calls() - before, 0);
  EXPECT_EQ(first, second);
  EXPECT_EQ(first, third);
}

TEST(SharedGemm, EmptyReductionOverwritesOrKeeps) {
  OwnedWorkspace ws;
  GemmWorkspace::Scope scope(ws.get());
  std::vector<float> c = {std::numeric_limits<float>::quiet_NaN(), 2.0f, 3.0f, 4.0f};
  const float dummy = 1.0f;
  gemm(false, false, 2, 2, 0, &dummy, 1, &dummy, 2, c.data(), 2, 1.0f);
  EXPECT_EQ(c[1], 2.0f);
  gemm(false, false, 2, 2, 0, &dummy, 1, &dummy, 2, c.data(), 2, 0.0f);
  EXPECT_EQ(c, std::vector<float>(4, 0.0f));
}

}  // namespace
}  // namespace earshot::models
